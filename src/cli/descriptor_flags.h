// What `call /pkg.Svc/Method`, `list` and `describe` share: the client flags, where message types
// come from (--proto/--import-path, else the node's reflection service), -H metadata and the
// deadline; and the one channel all their calls go over.
#pragma once

#include <grpcpp/channel.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/client_flags.h"
#include "client/descriptor_source.h"
#include "client/metadata.h"

namespace nodegate::cli {

struct DescriptorFlags {
  ClientFlags client;
  std::vector<std::string> protos, import_paths, headers;
  std::string timeout = "10s";
};

// Registers the client flags and --proto, --import-path, -H/--header, --timeout.
void AddDescriptorFlags(CLI::App* cmd, DescriptorFlags* flags);

struct Session {
  std::shared_ptr<grpc::Channel> channel;  // TLS + the per-call credentials of the flags
  client::Metadata metadata;               // -H
  absl::Duration timeout;
  std::unique_ptr<client::DescriptorSource> source;
};

// Checks the flags (exit 2 naming the bad one), builds the channel and the descriptor source
// (--proto files parsed now: exit 1 naming the file; reflection opens on first use).
Session OpenSession(DescriptorFlags flags, const std::string& command);

// Exits for a library error: 64 + code for the node's answer (an RPC error), else `local_code`.
// UNIMPLEMENTED from reflection gets a hint to use --proto; UNAVAILABLE gets DialFailureHint's
// sentence for `client` (the reflection call is usually the first to dial the node).
[[noreturn]] void FailStatus(const std::string& command, const absl::Status& status,
                             const ClientFlags& client, int local_code = 1);

}  // namespace nodegate::cli
