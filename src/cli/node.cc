// nodegate node add|list|show|update|enable|disable|remove: the node registry from the shell.
// Every change waits until the running node has loaded it (store_access.h, AwaitNode).
#include <iostream>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "auth/credential_admin.h"
#include "base/files.h"
#include "cli/commands.h"
#include "cli/store_access.h"
#include "nlohmann/json.hpp"

namespace nodegate::cli {
namespace {

std::string Time(absl::Time t) {
  if (t == absl::InfinitePast()) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

void Print(const store::NodeRecord& r) {
  std::cout << "id: " << r.id << "\n"
            << "enabled: " << (r.enabled ? "true" : "false") << "\n"
            << "algorithm: " << r.algorithm << "\n"
            << "roles: " << absl::StrJoin(r.roles, ",") << "\n"
            << "previous_key_valid_until: " << Time(r.previous_key_valid_until) << "\n"
            << "cert_serial: " << (r.cert_serial.empty() ? "-" : r.cert_serial) << "\n"
            << "created_at: " << Time(r.created_at) << "\n"
            << "updated_at: " << Time(r.updated_at) << std::endl;
}

// One node as `node list --output json` prints it (field names are stable; docs/registry.md).
nlohmann::json ToJson(const store::NodeRecord& r) {
  auto time_or_null = [](absl::Time t) {
    return t == absl::InfinitePast() ? nlohmann::json(nullptr) : nlohmann::json(Time(t));
  };
  return {{"id", r.id},
          {"enabled", r.enabled},
          {"algorithm", r.algorithm},
          {"roles", r.roles},
          {"cert_serial",
           r.cert_serial.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.cert_serial)},
          {"previous_key_valid_until", time_or_null(r.previous_key_valid_until)},
          {"created_at", time_or_null(r.created_at)},
          {"updated_at", time_or_null(r.updated_at)}};
}

}  // namespace

void AddNodeCommand(CLI::App& app) {
  auto* node = app.add_subcommand("node", "The node registry: nodes, their signing keys, roles.");
  node->require_subcommand(1);
  auto flags = std::make_shared<StoreFlags>();

  auto* add = node->add_subcommand("add", "Register a node and its signing public key.");
  auto a = std::make_shared<std::tuple<std::string, std::string, std::string, std::string>>();
  AddStoreFlags(add, flags.get());
  add->add_option("--id", std::get<0>(*a), "Node id [A-Za-z0-9._-]{1,128}")->required();
  add->add_option("--alg", std::get<1>(*a), "sm2-sm3 | ecdsa-p256-sha256 | ed25519")->required();
  add->add_option("--public-key", std::get<2>(*a), "PEM public key file")->required();
  add->add_option("--roles", std::get<3>(*a), "Comma-separated roles");
  AddWaitFlags(add, flags.get());
  add->callback([flags, a] {
    auto& [id, alg, key_file, roles] = *a;
    absl::StatusOr<std::string> pem = base::ReadFile(key_file);
    if (!pem.ok()) Fail("node add", std::string(pem.status().message()));
    store::Stores s = OpenStores(*flags, "node add");
    absl::StatusOr<store::NodeRecord> r =
        auth::RegisterNode(*s.nodes, id, alg, *pem, SplitList(roles));
    if (!r.ok()) Fail("node add", std::string(r.status().message()));
    std::cout << "registered node " << r->id << " (" << r->algorithm << ")" << std::endl;
    AwaitNode(*flags, s, "node add");
  });

  auto* list = node->add_subcommand("list", "List registered nodes.");
  AddStoreFlags(list, flags.get());
  auto output = std::make_shared<std::string>("text");
  AddOutputFlag(list, output.get());
  list->callback([flags, output] {
    store::Stores s = OpenStores(*flags, "node list");
    std::string token;
    const bool json = *output == "json";
    nlohmann::json nodes = nlohmann::json::array();
    if (!json) std::cout << "ID\tENABLED\tALGORITHM\tROLES\n";
    do {
      absl::StatusOr<store::NodePage> page = s.nodes->List(1000, token);
      if (!page.ok()) Fail("node list", std::string(page.status().message()));
      for (const auto& r : page->records) {
        if (json) {
          nodes.push_back(ToJson(r));
          continue;
        }
        std::cout << r.id << "\t" << (r.enabled ? "yes" : "no") << "\t" << r.algorithm << "\t"
                  << absl::StrJoin(r.roles, ",") << "\n";
      }
      token = page->next_page_token;
    } while (!token.empty());
    if (json) std::cout << nlohmann::json{{"nodes", nodes}}.dump(2) << "\n";
    std::cout << std::flush;
  });

  auto id = std::make_shared<std::string>();
  auto* show = node->add_subcommand("show", "Show one node.");
  AddStoreFlags(show, flags.get());
  show->add_option("--id", *id, "Node id")->required();
  show->callback([flags, id] {
    store::Stores s = OpenStores(*flags, "node show");
    absl::StatusOr<store::NodeRecord> r = s.nodes->Get(*id);
    if (!r.ok()) Fail("node show", std::string(r.status().message()));
    Print(*r);
  });

  auto roles = std::make_shared<std::string>();
  auto* update = node->add_subcommand(
      "update", "Change a registered node's roles in place (its keys and state are kept).");
  AddStoreFlags(update, flags.get());
  update->add_option("--id", *id, "Node id")->required();
  update
      ->add_option("--roles", *roles,
                   "Comma-separated roles, replacing the current ones; \"\" = none")
      ->required();
  AddWaitFlags(update, flags.get());
  update->callback([flags, id, roles] {
    store::Stores s = OpenStores(*flags, "node update");
    absl::StatusOr<store::NodeRecord> updated = s.nodes->SetRoles(*id, SplitList(*roles));
    if (!updated.ok()) Fail("node update", std::string(updated.status().message()));
    std::cout << "updated " << updated->id << ": roles "
              << (updated->roles.empty() ? "-" : absl::StrJoin(updated->roles, ",")) << std::endl;
    AwaitNode(*flags, s, "node update");
  });

  for (auto [name, enable] : {std::pair{"enable", true}, std::pair{"disable", false}}) {
    auto* cmd = node->add_subcommand(
        name, enable ? "Enable a node." : "Disable a node: its signatures and mTLS are refused.");
    AddStoreFlags(cmd, flags.get());
    cmd->add_option("--id", *id, "Node id")->required();
    AddWaitFlags(cmd, flags.get());
    std::string cmd_name = std::string("node ") + name;
    cmd->callback([flags, id, enable = enable, cmd_name] {
      store::Stores s = OpenStores(*flags, cmd_name);
      absl::Status st = s.nodes->SetEnabled(*id, enable);
      if (!st.ok()) Fail(cmd_name, std::string(st.message()));
      std::cout << (enable ? "enabled " : "disabled ") << *id << std::endl;
      AwaitNode(*flags, s, cmd_name);
    });
  }

  AddJoinCommands(app, node);

  auto* remove = node->add_subcommand("remove", "Remove a node from the registry.");
  AddStoreFlags(remove, flags.get());
  remove->add_option("--id", *id, "Node id")->required();
  AddWaitFlags(remove, flags.get());
  remove->callback([flags, id] {
    store::Stores s = OpenStores(*flags, "node remove");
    absl::Status st = s.nodes->Remove(*id);
    if (!st.ok()) Fail("node remove", std::string(st.message()));
    std::cout << "removed " << *id << std::endl;
    AwaitNode(*flags, s, "node remove");
  });
}

}  // namespace nodegate::cli
