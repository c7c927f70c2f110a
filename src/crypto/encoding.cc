#include "crypto/encoding.h"

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace nodegate::crypto {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kHexDigits = "0123456789abcdef";

using DecodeTable = std::array<int8_t, 256>;

constexpr DecodeTable MakeDecodeTable(std::string_view alphabet) {
  DecodeTable table{};
  for (auto& v : table) v = -1;
  for (size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}

constexpr DecodeTable kBase64Table = MakeDecodeTable(kBase64Alphabet);
constexpr DecodeTable kBase64UrlTable = MakeDecodeTable(kBase64UrlAlphabet);

// "'+'" for printable ASCII, "byte 0x0a" otherwise, so messages stay one readable line.
std::string DescribeChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u <= 0x7e) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrCat("byte 0x", std::string(1, kHexDigits[u >> 4]),
                      std::string(1, kHexDigits[u & 0xf]));
}

std::string EncodeBase64(std::string_view data, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16 |
                       static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8 |
                       static_cast<uint32_t>(static_cast<unsigned char>(data[i + 2]));
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 0x3f];
    out += alphabet[(v >> 6) & 0x3f];
    out += alphabet[v & 0x3f];
  }
  const size_t rest = data.size() - i;
  if (rest == 1) {
    const uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 0x3f];
    if (pad) out += "==";
  } else if (rest == 2) {
    const uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16 |
                       static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 0x3f];
    out += alphabet[(v >> 6) & 0x3f];
    if (pad) out += '=';
  }
  return out;
}

// Decodes unpadded base64 with `table`. `full_length` is the length of the caller's whole input,
// for messages.
absl::StatusOr<std::string> DecodeUnpadded(absl::string_view name, std::string_view encoded,
                                           const DecodeTable& table,
                                           absl::string_view alphabet_desc, size_t full_length) {
  std::string out;
  out.reserve(encoded.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < encoded.size(); ++i) {
    const int8_t v = table[static_cast<unsigned char>(encoded[i])];
    if (v < 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": invalid character ",
                                                     DescribeChar(encoded[i]), " at offset ", i,
                                                     " (alphabet: ", alphabet_desc, ")"));
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // Checked after the characters, so that a stray newline is reported as such.
  if (encoded.size() % 4 == 1) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": impossible length ", full_length,
                                                   " (4n+1 characters cannot encode whole bytes)"));
  }
  // 2 or 4 bits are left over after a partial group; an encoder always writes them as zero.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": non-canonical encoding (unused bits of the last character are not zero)"));
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Base64UrlEncode(std::string_view data) {
  return EncodeBase64(data, kBase64UrlAlphabet, /*pad=*/false);
}

absl::StatusOr<std::string> Base64UrlDecode(std::string_view encoded) {
  constexpr absl::string_view kName = "base64url";
  if (const size_t eq = encoded.find('='); eq != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        kName, ": padding '=' at offset ", eq, " is not allowed (unpadded base64url expected)"));
  }
  return DecodeUnpadded(kName, encoded, kBase64UrlTable, "A-Z a-z 0-9 - _, no padding",
                        encoded.size());
}

std::string Base64Encode(std::string_view data) {
  return EncodeBase64(data, kBase64Alphabet, /*pad=*/true);
}

absl::StatusOr<std::string> Base64Decode(std::string_view encoded) {
  constexpr absl::string_view kName = "base64";
  if (encoded.size() % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kName, ": length ", encoded.size(), " is not a multiple of 4 (padded base64 expected)"));
  }
  size_t padding = 0;
  while (padding < 2 && padding < encoded.size() && encoded[encoded.size() - 1 - padding] == '=') {
    ++padding;
  }
  std::string_view body = encoded.substr(0, encoded.size() - padding);
  if (const size_t eq = body.find('='); eq != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(kName, ": misplaced padding '=' at offset ", eq));
  }
  // With at most two trailing '=' removed, what is left must be exactly what an unpadded encoder
  // writes: "AA==" is fine, while "A===" leaves "A=" (misplaced '=').
  return DecodeUnpadded(kName, body, kBase64Table, "A-Z a-z 0-9 + /, '=' padding", encoded.size());
}

std::string HexEncode(std::string_view data) {
  std::string out;
  out.reserve(data.size() * 2);
  for (char c : data) {
    const auto u = static_cast<unsigned char>(c);
    out += kHexDigits[u >> 4];
    out += kHexDigits[u & 0xf];
  }
  return out;
}

absl::StatusOr<std::string> HexDecode(std::string_view encoded) {
  if (encoded.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("hex: odd length ", encoded.size(), " (two digits per byte)"));
  }
  std::string out;
  out.reserve(encoded.size() / 2);
  for (size_t i = 0; i < encoded.size(); i += 2) {
    const int hi = HexValue(encoded[i]);
    const int lo = HexValue(encoded[i + 1]);
    if (hi < 0 || lo < 0) {
      const size_t bad = hi < 0 ? i : i + 1;
      return absl::InvalidArgumentError(
          absl::StrCat("hex: invalid character ", DescribeChar(encoded[bad]), " at offset ", bad));
    }
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

std::string PercentDecode(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%' && i + 2 < encoded.size()) {
      const int hi = HexValue(encoded[i + 1]);
      const int lo = HexValue(encoded[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(encoded[i]);
  }
  return out;
}

}  // namespace nodegate::crypto
