// nodegate: one binary, many subcommands.
#include <iostream>

#include "absl/synchronization/mutex.h"
#include "cli/commands.h"

namespace nodegate::cli {

void Fail(const std::string& what, const std::string& message, int code) {
  std::cerr << "nodegate " << what << ": " << message << std::endl;
  throw CLI::RuntimeError(code);
}

}  // namespace nodegate::cli

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock detector on: every
  // lock of gRPC's mutexes then updates a global lock-order graph (GraphCycles::InsertEdge/GetId,
  // ~3.5 % of a loaded server's CPU in perf, docs/benchmarks.md). Upstream release builds have it
  // off; so do we.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{
      "nodegate — secure node-to-node gRPC: mTLS with hot-reloaded certificates, per-call\n"
      "signatures, tokens and app keys, per-method policy, a node registry, and the demo\n"
      "services (api.DiceService, …).\n\n"
      "Quick start:  nodegate init --dir var && nodegate serve --config var/node.toml\n"
      "              nodegate call dice --config var/client.toml",
      "nodegate"};
  app.set_version_flag("--version", "nodegate 0.1.0");
  app.require_subcommand(1);
  nodegate::cli::AddServeCommand(app);
  nodegate::cli::AddInitCommand(app);
  nodegate::cli::AddPkiCommand(app);
  nodegate::cli::AddCallCommand(app);
  nodegate::cli::AddNodeCommand(app);
  nodegate::cli::AddTokenCommands(app);
  nodegate::cli::AddKeysCommand(app);
  nodegate::cli::AddPolicyCommand(app);
  nodegate::cli::AddDeployCommand(app);
  nodegate::cli::AddTunnelCommand(app);
  nodegate::cli::AddEchoCommand(app);
  nodegate::cli::AddBenchCommand(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
