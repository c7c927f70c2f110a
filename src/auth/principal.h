// Who is calling: the outcome of authentication, handed to policy and to handlers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace nodegate::auth {

// The authenticators, as a bit set so that a rule can accept several.
enum Authenticator : uint32_t {
  kMtls = 1u << 0,       // "mtls": the verified client certificate
  kSignature = 1u << 1,  // "signature": per-call node signature, wire format v1
  kToken = 1u << 2,      // "token": authorization: Bearer / access-token
  kAppKey = 1u << 3,     // "app_key": app-key + app-secret (or app_key + app_secret)
};
inline constexpr uint32_t kAllAuthenticators = kMtls | kSignature | kToken | kAppKey;

absl::StatusOr<uint32_t> ParseAuthenticator(std::string_view name);
// "mtls,signature" for a set; "" for none.
std::string AuthenticatorNames(uint32_t set);
std::vector<std::string> AuthenticatorList(uint32_t set);

struct Principal {
  enum class Kind { kNone, kNode, kUser, kApp };
  Kind kind = Kind::kNone;
  std::string id;
  std::vector<std::string> roles;
  uint32_t authenticators = 0;  // every authenticator that vouched for this call
  // The call's signature verified only with the node's previous (grace-period) key. Such a key may
  // still make calls until the grace ends, but it is no proof for acts that outlive the call (a
  // key rotation): it may be the very key that was rotated out because it leaked.
  bool signed_with_previous_key = false;

  bool authenticated() const { return kind != Kind::kNone; }
  bool HasAnyRole(const std::vector<std::string>& wanted) const;
  // "node:dev-client", "user:alice", "app:billing"; "" when unauthenticated.
  std::string ToString() const;
};

std::string_view KindName(Principal::Kind kind);
absl::StatusOr<Principal::Kind> ParseKind(std::string_view name);

}  // namespace nodegate::auth
