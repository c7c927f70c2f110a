// Per-method authorisation rules (design §4). Default deny: a method with no rule needs an
// authenticated caller (any enabled authenticator, no role). Rules come from, in order of
// precedence: the node config (exact method, then "/pkg.Service/*"), the method's own
// (nodegate.v1.auth) proto option, built-in rules (grpc.health.v1 is public), the default.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace nodegate::auth {

struct Rule {
  std::string pattern;  // "/pkg.Service/Method" or "/pkg.Service/*"
  bool is_public = false;
  uint32_t authenticators = 0;     // bit set of Authenticator; 0 = every enabled authenticator
  std::vector<std::string> roles;  // at least one needed; empty = any authenticated caller
  std::string source;              // "config", "proto", "builtin", "default"
};

// Checks the shape of a rule (pattern syntax, public excludes the other fields).
absl::Status ValidateRule(const Rule& rule);

// Rules declared with (nodegate.v1.auth) on the methods of these services (full names such as
// "api.DiceService"), read from the generated descriptor pool. Unknown services are skipped.
absl::StatusOr<std::vector<Rule>> RulesFromProtoOptions(const std::vector<std::string>& services);

class Policy {
 public:
  static absl::StatusOr<std::shared_ptr<const Policy>> Build(std::vector<Rule> config_rules,
                                                             std::vector<Rule> proto_rules);

  // The rule that governs `full_method`. Never null.
  const Rule& Resolve(std::string_view full_method) const;

  // One row per method of `services` (from the descriptor pool) and per configured pattern.
  struct Row {
    std::string method;
    const Rule* rule;
  };
  std::vector<Row> Table(const std::vector<std::string>& services) const;

 private:
  Policy() = default;
  absl::flat_hash_map<std::string, Rule> config_exact_;
  absl::flat_hash_map<std::string, Rule> config_service_;  // key: "/pkg.Service/"
  absl::flat_hash_map<std::string, Rule> proto_exact_;
  absl::flat_hash_map<std::string, Rule> builtin_service_;
  Rule default_;
};

}  // namespace nodegate::auth
