#include "auth/principal.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nodegate::auth {

absl::StatusOr<uint32_t> ParseAuthenticator(std::string_view name) {
  if (name == "mtls") return kMtls;
  if (name == "signature") return kSignature;
  if (name == "token") return kToken;
  if (name == "app_key") return kAppKey;
  return absl::InvalidArgumentError(absl::StrCat("unknown authenticator '", std::string(name),
                                                 "'; valid: mtls, signature, token, app_key"));
}

std::vector<std::string> AuthenticatorList(uint32_t set) {
  std::vector<std::string> out;
  if (set & kMtls) out.push_back("mtls");
  if (set & kSignature) out.push_back("signature");
  if (set & kToken) out.push_back("token");
  if (set & kAppKey) out.push_back("app_key");
  return out;
}

std::string AuthenticatorNames(uint32_t set) { return absl::StrJoin(AuthenticatorList(set), ","); }

bool Principal::HasAnyRole(const std::vector<std::string>& wanted) const {
  for (const std::string& w : wanted) {
    if (std::find(roles.begin(), roles.end(), w) != roles.end()) return true;
  }
  return false;
}

std::string_view KindName(Principal::Kind kind) {
  switch (kind) {
    case Principal::Kind::kNode:
      return "node";
    case Principal::Kind::kUser:
      return "user";
    case Principal::Kind::kApp:
      return "app";
    case Principal::Kind::kNone:
      return "none";
  }
  return "none";
}

absl::StatusOr<Principal::Kind> ParseKind(std::string_view name) {
  if (name == "node") return Principal::Kind::kNode;
  if (name == "user") return Principal::Kind::kUser;
  if (name == "app") return Principal::Kind::kApp;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown principal kind '", std::string(name), "'; valid: node, user, app"));
}

std::string Principal::ToString() const {
  if (!authenticated()) return "";
  return absl::StrCat(std::string(KindName(kind)), ":", id);
}

}  // namespace nodegate::auth
