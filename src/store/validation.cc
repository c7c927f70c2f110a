#include "store/validation.h"

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"

namespace nodegate::store {
namespace {

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

absl::Status ValidateId(std::string_view field, std::string_view value) {
  bool ok = !value.empty() && value.size() <= 128;
  for (char c : value) ok = ok && IsIdChar(c);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("store: ", AbslView(field), ": must match [A-Za-z0-9._-]{1,128}"));
}

absl::Status ValidateSha256Hex(std::string_view field, std::string_view value) {
  bool ok = value.size() == 64;
  for (char c : value) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "store: ", AbslView(field), ": expected 64 lower-case hex characters (SHA-256), got ",
      value.size(), " characters"));
}

absl::Status ValidatePrincipal(std::string_view field, std::string_view value) {
  if (value.empty() || value.size() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("store: ", AbslView(field), ": must be 1..256 bytes, got ", value.size()));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("store: ", AbslView(field), ": must not contain control characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRoles(std::string_view field, const std::vector<std::string>& roles) {
  for (const std::string& role : roles) {
    bool ok = !role.empty() && role.size() <= 64;
    for (unsigned char c : role) ok = ok && c > 0x20 && c < 0x7f && c != ',';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("store: ", AbslView(field),
                       ": each role must be 1..64 printable ASCII characters without ',' "
                       "or space"));
    }
  }
  return absl::OkStatus();
}

}  // namespace nodegate::store
