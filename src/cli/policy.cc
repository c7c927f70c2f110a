// nodegate policy --config FILE: the effective per-method rule table.
#include <iomanip>
#include <iostream>

#include "absl/strings/str_join.h"
#include "auth/principal.h"
#include "cli/commands.h"
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
  cmd->callback([config] {
    absl::StatusOr<server::NodeConfig> c = server::LoadNodeConfig(*config);
    if (!c.ok()) Fail("policy", std::string(c.status().message()), 2);
    absl::StatusOr<std::shared_ptr<const auth::Policy>> policy = server::BuildPolicy(*c);
    if (!policy.ok()) Fail("policy", std::string(policy.status().message()));
    std::cout << std::left << std::setw(52) << "METHOD" << std::setw(8) << "ACCESS"
              << std::setw(34) << "AUTHENTICATORS" << std::setw(16) << "ROLES" << "SOURCE\n";
    for (const auto& row : (*policy)->Table(server::ServedServices())) {
      const auth::Rule& r = *row.rule;
      uint32_t accepted = (r.authenticators == 0 ? auth::kAllAuthenticators : r.authenticators) &
                          c->auth.authenticators;
      std::cout << std::setw(52) << row.method << std::setw(8)
                << (r.is_public ? "public" : "auth") << std::setw(34)
                << (r.is_public ? "-" : auth::AuthenticatorNames(accepted)) << std::setw(16)
                << (r.roles.empty() ? "-" : absl::StrJoin(r.roles, ",")) << r.source << "\n";
    }
    std::cout << "(methods without a row follow the default: any enabled authenticator, no role)"
              << std::endl;
  });
}

}  // namespace nodegate::cli
