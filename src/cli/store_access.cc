#include "cli/store_access.h"

#include <filesystem>
#include <iostream>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/files.h"
#include "cli/commands.h"
#include "server/config.h"
#include "server/store_change_wait.h"

namespace nodegate::cli {

void AddStoreFlags(CLI::App* cmd, StoreFlags* flags) {
  cmd->add_option("--config,-c", flags->config,
                  "Node config (TOML); its [store] names the database (SQLite file or PostgreSQL)");
  cmd->add_option("--db", flags->db, "SQLite database file (instead of --config)");
}

store::Stores OpenStores(const StoreFlags& flags, const std::string& command) {
  store::StoreConfig config;
  config.path = flags.db;
  if (config.path.empty()) {
    if (flags.config.empty()) Fail(command, "give --config NODE.toml or --db FILE", 2);
    absl::StatusOr<server::NodeConfig> c = server::LoadNodeConfig(flags.config);
    if (!c.ok()) Fail(command, std::string(c.status().message()), 2);
    config = c->store;
  }
  if (config.backend == store::StoreConfig::Backend::kSqlite) {
    std::string parent = std::filesystem::path(config.path).parent_path().string();
    if (!parent.empty()) {
      if (absl::Status s = base::MakeDirs(parent, 0700); !s.ok())
        Fail(command, std::string(s.message()));
    }
  }
  absl::StatusOr<store::Stores> stores = store::OpenStores(config);
  if (!stores.ok()) Fail(command, std::string(stores.status().message()));
  return *std::move(stores);
}

void AddWaitFlags(CLI::App* cmd, StoreFlags* flags) {
  cmd->add_option("--wait", flags->wait,
                  "How long to wait for the running node (of --config) to load the change")
      ->capture_default_str();
  cmd->add_flag("--no-wait", flags->no_wait,
                "Return once the store has the change; the node loads it within "
                "auth.credentials_poll");
}

void AwaitNode(const StoreFlags& flags, const store::Stores& stores, const std::string& command) {
  if (flags.no_wait) return;
  absl::Duration timeout;
  if (!absl::ParseDuration(flags.wait, &timeout) || timeout <= absl::ZeroDuration()) {
    Fail(command, "--wait: '" + flags.wait + "' is not a positive duration such as 5s", 2);
  }
  if (flags.config.empty()) {
    std::cerr << "nodegate " << command
              << ": note: --db given, so no node to ask; a running node loads the change within "
                 "its auth.credentials_poll"
              << std::endl;
    return;
  }
  absl::StatusOr<server::NodeConfig> config = server::LoadNodeConfig(flags.config);
  if (!config.ok()) Fail(command, std::string(config.status().message()), 2);
  absl::StatusOr<server::StoreChangeWait> w = server::WaitForStoreChange(*config, stores, timeout);
  if (!w.ok() && w.status().code() != absl::StatusCode::kDeadlineExceeded) {
    // The node could not be asked (its certificate does not verify against tls.ca, its console
    // wants a client certificate, it is older than this tool): say so, but the write succeeded.
    std::cerr << "nodegate " << command << ": note: stored, but the node could not be asked "
              << "whether it has loaded the change (it does within auth.credentials_poll): "
              << w.status().message() << std::endl;
    return;
  }
  if (!w.ok()) {
    Fail(command,
         "the change is stored but not confirmed in force: " + std::string(w.status().message()));
  }
  using Outcome = server::StoreChangeWait::Outcome;
  if (w->outcome == Outcome::kNoListener) {
    std::cerr << "nodegate " << command << ": note: " << flags.config
              << " has no [http] listen with a fixed port, so the node cannot be asked; it loads "
                 "the change within "
                 "auth.credentials_poll ("
              << absl::FormatDuration(config->auth.credentials_poll) << ")" << std::endl;
  } else if (w->outcome == Outcome::kNotRunning) {
    std::cerr << "nodegate " << command << ": note: no node answers on " << w->node_url
              << "; it reads the change when it starts" << std::endl;
  }
}

void AddOutputFlag(CLI::App* cmd, std::string* output) {
  cmd->add_option("--output,-o", *output, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
}

std::vector<std::string> SplitList(const std::string& comma_separated) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(comma_separated, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

}  // namespace nodegate::cli
