// nodegate node add|list|show|enable|disable|remove: the node registry from the shell.
#include <iostream>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "auth/credential_admin.h"
#include "base/files.h"
#include "cli/commands.h"
#include "cli/store_access.h"

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
  add->callback([flags, a] {
    auto& [id, alg, key_file, roles] = *a;
    absl::StatusOr<std::string> pem = base::ReadFile(key_file);
    if (!pem.ok()) Fail("node add", std::string(pem.status().message()));
    store::Stores s = OpenStores(*flags, "node add");
    absl::StatusOr<store::NodeRecord> r =
        auth::RegisterNode(*s.nodes, id, alg, *pem, SplitList(roles));
    if (!r.ok()) Fail("node add", std::string(r.status().message()));
    std::cout << "registered node " << r->id << " (" << r->algorithm << ")" << std::endl;
  });

  auto* list = node->add_subcommand("list", "List registered nodes.");
  AddStoreFlags(list, flags.get());
  list->callback([flags] {
    store::Stores s = OpenStores(*flags, "node list");
    std::string token;
    std::cout << "ID\tENABLED\tALGORITHM\tROLES\n";
    do {
      absl::StatusOr<store::NodePage> page = s.nodes->List(1000, token);
      if (!page.ok()) Fail("node list", std::string(page.status().message()));
      for (const auto& r : page->records) {
        std::cout << r.id << "\t" << (r.enabled ? "yes" : "no") << "\t" << r.algorithm << "\t"
                  << absl::StrJoin(r.roles, ",") << "\n";
      }
      token = page->next_page_token;
    } while (!token.empty());
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

  for (auto [name, enable] : {std::pair{"enable", true}, std::pair{"disable", false}}) {
    auto* cmd = node->add_subcommand(
        name, enable ? "Enable a node." : "Disable a node: its signatures and mTLS are refused.");
    AddStoreFlags(cmd, flags.get());
    cmd->add_option("--id", *id, "Node id")->required();
    std::string cmd_name = std::string("node ") + name;
    cmd->callback([flags, id, enable = enable, cmd_name] {
      store::Stores s = OpenStores(*flags, cmd_name);
      absl::Status st = s.nodes->SetEnabled(*id, enable);
      if (!st.ok()) Fail(cmd_name, std::string(st.message()));
      std::cout << (enable ? "enabled " : "disabled ") << *id << std::endl;
    });
  }

  AddJoinCommands(app, node);

  auto* remove = node->add_subcommand("remove", "Remove a node from the registry.");
  AddStoreFlags(remove, flags.get());
  remove->add_option("--id", *id, "Node id")->required();
  remove->callback([flags, id] {
    store::Stores s = OpenStores(*flags, "node remove");
    absl::Status st = s.nodes->Remove(*id);
    if (!st.ok()) Fail("node remove", std::string(st.message()));
    std::cout << "removed " << *id << std::endl;
  });
}

}  // namespace nodegate::cli
