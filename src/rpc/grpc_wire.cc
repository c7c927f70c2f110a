#include "rpc/grpc_wire.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace nodegate::rpc {

absl::Status MessageReader::Step(std::string_view* bytes) {
  if (!in_body_) {
    const size_t take = std::min(kMessagePrefixBytes - prefix_have_, bytes->size());
    std::copy_n(bytes->data(), take, prefix_ + prefix_have_);
    prefix_have_ += take;
    bytes->remove_prefix(take);
    if (prefix_have_ < kMessagePrefixBytes) return absl::OkStatus();
    prefix_have_ = 0;
    if (prefix_[0] != 0) {
      return absl::InternalError(
          "compressed message without a grpc-encoding this server accepts (identity only)");
    }
    body_length_ = (size_t{prefix_[1]} << 24) | (size_t{prefix_[2]} << 16) |
                   (size_t{prefix_[3]} << 8) | size_t{prefix_[4]};
    if (body_length_ > max_message_bytes_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "received message larger than max (", body_length_, " vs. ", max_message_bytes_, ")"));
    }
    in_body_ = true;
    message_.reserve(body_length_);
  }
  const size_t take = std::min(body_length_ - message_.size(), bytes->size());
  message_.append(bytes->data(), take);
  bytes->remove_prefix(take);
  if (message_.size() == body_length_) {
    in_body_ = false;
    complete_ = true;
  }
  return absl::OkStatus();
}

void AppendFramedMessage(std::string_view message, std::string* out) {
  const uint32_t n = static_cast<uint32_t>(message.size());
  const char prefix[kMessagePrefixBytes] = {0, static_cast<char>(n >> 24),
                                            static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                                            static_cast<char>(n)};
  out->append(prefix, kMessagePrefixBytes);
  out->append(message);
}

std::optional<absl::Duration> ParseGrpcTimeout(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  switch (value.back()) {
    case 'H':
      return absl::Hours(n);
    case 'M':
      return absl::Minutes(n);
    case 'S':
      return absl::Seconds(n);
    case 'm':
      return absl::Milliseconds(n);
    case 'u':
      return absl::Microseconds(n);
    case 'n':
      return absl::Nanoseconds(n);
    default:
      return std::nullopt;
  }
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u <= 0x7e && u != '%') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string EncodeBinaryHeader(std::string_view raw) {
  std::string out = absl::Base64Escape(absl::string_view(raw.data(), raw.size()));
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::optional<std::string> DecodeBinaryHeader(std::string_view value) {
  std::string out;
  if (!absl::Base64Unescape(absl::string_view(value.data(), value.size()), &out))
    return std::nullopt;
  return out;
}

}  // namespace nodegate::rpc
