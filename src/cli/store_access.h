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
};

void AddStoreFlags(CLI::App* cmd, StoreFlags* flags);
// Opens the node's database (failing the command with a clear message).
store::Stores OpenStores(const StoreFlags& flags, const std::string& command);
std::vector<std::string> SplitList(const std::string& comma_separated);

}  // namespace nodegate::cli
