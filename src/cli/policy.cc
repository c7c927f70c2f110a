// nodegate policy --config FILE: the effective per-method rule table.
#include <algorithm>
#include <iomanip>
#include <iostream>

#include "absl/strings/str_join.h"
#include "auth/principal.h"
#include "cli/commands.h"
#include "cli/store_access.h"
#include "nlohmann/json.hpp"
#include "server/config.h"
#include "server/node.h"

namespace nodegate::cli {

void AddPolicyCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "policy",
      "Print the effective authorisation table: method → public / accepted authenticators /\n"
      "roles / where the rule came from (config, proto option, builtin, default).");
  auto config = std::make_shared<std::string>();
  cmd->add_option("--config,-c", *config, "Node config (TOML)")->required();
  auto output = std::make_shared<std::string>("text");
  AddOutputFlag(cmd, output.get());
  cmd->callback([config, output] {
    absl::StatusOr<server::NodeConfig> c = server::LoadNodeConfig(*config);
    if (!c.ok()) Fail("policy", std::string(c.status().message()), 2);
    absl::StatusOr<std::shared_ptr<const auth::Policy>> policy = server::BuildPolicy(*c);
    if (!policy.ok()) Fail("policy", std::string(policy.status().message()));
    struct Line {
      std::string method, access, authenticators, roles, source;
    };
    std::vector<Line> lines = {{"METHOD", "ACCESS", "AUTHENTICATORS", "ROLES", "SOURCE"}};
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& row : (*policy)->Table(server::ServedServices())) {
      const auth::Rule& r = *row.rule;
      uint32_t accepted = (r.authenticators == 0 ? auth::kAllAuthenticators : r.authenticators) &
                          c->auth.authenticators;
      rules.push_back(
          {{"method", row.method},
           {"access", r.is_public ? "public" : "auth"},
           {"authenticators", r.is_public ? std::vector<std::string>()
                                          : SplitList(auth::AuthenticatorNames(accepted))},
           {"roles", r.roles},
           {"source", r.source}});
      lines.push_back({row.method, r.is_public ? "public" : "auth",
                       r.is_public ? "-" : auth::AuthenticatorNames(accepted),
                       r.roles.empty() ? "-" : absl::StrJoin(r.roles, ","), r.source});
    }
    if (*output == "json") {
      auto enabled = SplitList(auth::AuthenticatorNames(c->auth.authenticators));
      std::cout << nlohmann::json{{"rules", rules},
                                  {"default",
                                   {{"access", "auth"},
                                    {"authenticators", enabled},
                                    {"roles", nlohmann::json::array()}}}}
                       .dump(2)
                << std::endl;
      return;
    }
    // Columns as wide as their widest cell, two spaces apart, so the table stays parseable.
    size_t w[4] = {0, 0, 0, 0};
    for (const Line& l : lines) {
      w[0] = std::max(w[0], l.method.size());
      w[1] = std::max(w[1], l.access.size());
      w[2] = std::max(w[2], l.authenticators.size());
      w[3] = std::max(w[3], l.roles.size());
    }
    for (const Line& l : lines) {
      std::cout << std::left << std::setw(static_cast<int>(w[0] + 2)) << l.method
                << std::setw(static_cast<int>(w[1] + 2)) << l.access
                << std::setw(static_cast<int>(w[2] + 2)) << l.authenticators
                << std::setw(static_cast<int>(w[3] + 2)) << l.roles << l.source << "\n";
    }
    std::cout << "(methods without a row follow the default: any enabled authenticator, no role)"
              << std::endl;
  });
}

}  // namespace nodegate::cli
