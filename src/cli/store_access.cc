#include "cli/store_access.h"

#include <filesystem>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "cli/commands.h"
#include "server/config.h"

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

std::vector<std::string> SplitList(const std::string& comma_separated) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(comma_separated, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

}  // namespace nodegate::cli
