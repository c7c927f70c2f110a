// Shared by the admin subcommands: which database to open (--config node.toml or --db FILE).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "store/store_factory.h"

namespace nodegate::cli {

struct StoreFlags {
  std::string config;
  std::string db;
  // Commands that change credentials: how long to wait for the running node to load the change.
  std::string wait = "5s";
  bool no_wait = false;
};

void AddStoreFlags(CLI::App* cmd, StoreFlags* flags);
// --wait DURATION and --no-wait, for commands that change what a running node decides.
void AddWaitFlags(CLI::App* cmd, StoreFlags* flags);
// After a successful write: waits (--wait, default 5s) until the node of --config has loaded the
// change, so that it is in force when the command returns. Says so on stderr when it cannot be
// confirmed (no [http] listener, node not running, --db only, the node cannot be asked); fails
// the command (exit 1) only when the node answers but has not loaded it in time, naming both
// generations.
void AwaitNode(const StoreFlags& flags, const store::Stores& stores, const std::string& command);
// Opens the node's database (failing the command with a clear message).
store::Stores OpenStores(const StoreFlags& flags, const std::string& command);
// --output text|json (default text) for the listing commands; JSON field names are documented in
// docs/registry.md ("--output json") and stay stable.
void AddOutputFlag(CLI::App* cmd, std::string* output);
std::vector<std::string> SplitList(const std::string& comma_separated);

}  // namespace nodegate::cli
