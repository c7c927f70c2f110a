#include "client/metadata.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace nodegate::client {
namespace {

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

// Names the header by its key only: the value may be a token or an app secret, and an error
// message ends up on a terminal, in shell history captures and in CI logs.
absl::Status Bad(std::string_view key, const char* why) {
  return absl::InvalidArgumentError(
      absl::StrCat("-H '", std::string(key), ": …' (value not shown): ", why));
}

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> ParseHeader(std::string_view header) {
  const size_t colon = header.find(':');
  if (colon == std::string_view::npos) {
    // No colon: no way to tell the key from a pasted secret, so nothing of it is repeated.
    return absl::InvalidArgumentError("-H (not shown: it has no ':'): expected 'key: value'");
  }
  const absl::string_view whole(header.data(), header.size());
  std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(whole.substr(0, colon)));
  std::string value(absl::StripAsciiWhitespace(whole.substr(colon + 1)));
  const std::string_view named = header.substr(0, colon);
  if (key.empty()) return Bad(named, "the key is empty");
  for (char c : key) {
    if (!IsKeyChar(c)) return Bad(named, "a key has only the characters 0-9 a-z - _ .");
  }
  if (key.starts_with("grpc-")) {
    return Bad(named, "keys starting with grpc- are reserved for gRPC itself");
  }
  if (key.ends_with("-bin")) {
    // Either alphabet, with or without padding: what people paste comes in every form.
    std::string standard = absl::StrReplaceAll(value, {{"-", "+"}, {"_", "/"}});
    while (standard.size() % 4 != 0) standard.push_back('=');
    std::string bytes;
    if (!absl::Base64Unescape(standard, &bytes)) {
      return Bad(named, "the value of a -bin key must be base64");
    }
    return std::make_pair(std::move(key), std::move(bytes));
  }
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) {
      return Bad(named, "a text value has only printable ASCII (use a -bin key for bytes)");
    }
  }
  return std::make_pair(std::move(key), std::move(value));
}

absl::StatusOr<Metadata> ParseHeaders(const std::vector<std::string>& headers) {
  Metadata out;
  for (const std::string& h : headers) {
    absl::StatusOr<std::pair<std::string, std::string>> kv = ParseHeader(h);
    if (!kv.ok()) return kv.status();
    out.push_back(*std::move(kv));
  }
  return out;
}

}  // namespace nodegate::client
