// nodegate: one binary, many subcommands.
#include <grpc/grpc.h>

#include <iostream>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/daemon.h"

namespace nodegate::cli {

void Fail(const std::string& what, const std::string& message, int code) {
  std::cerr << "nodegate " << what << ": " << message << std::endl;
  throw CLI::RuntimeError(code);
}

namespace {

// Holds one gRPC library reference for the whole run and ends the library on this thread before the
// process exits. Without it the last reference can be dropped on a gRPC poller thread (a channel's
// teardown finishing after a refused call), and grpc_shutdown then frees gRPC's state on a detached
// thread that the exit cuts short: LeakSanitizer reported the half-freed TLS credentials
// (docs/sanitizers.md). grpc_is_initialized() takes the lock the clean-up holds, so the wait below
// also covers a clean-up already running; it is bounded: a stuck reference cannot hang the exit.
//
// grpc_init starts gRPC's executor and global timer threads, and a thread inherits the signal mask
// of the one that creates it. They are started with the stop signals blocked: otherwise a SIGTERM
// meant for a daemon's sigwait (BlockStopSignals) can be delivered to one of them, and its default
// action kills the process undrained (an e2e teardown saw `serve` exit by signal 15). This thread
// gets its mask back, so a one-shot command still stops on Ctrl-C.
class GrpcLibraryScope {
 public:
  GrpcLibraryScope() {
    const sigset_t stop = StopSignals();
    sigset_t before;
    pthread_sigmask(SIG_BLOCK, &stop, &before);
    grpc_init();
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
  }
  ~GrpcLibraryScope() {
    grpc_shutdown();
    const absl::Time give_up = absl::Now() + absl::Seconds(2);
    while (grpc_is_initialized() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  }
  GrpcLibraryScope(const GrpcLibraryScope&) = delete;
  GrpcLibraryScope& operator=(const GrpcLibraryScope&) = delete;
};

int Run(int argc, char** argv) {
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
  AddServeCommand(app);
  AddInitCommand(app);
  AddPkiCommand(app);
  AddCallCommand(app);
  AddNodeCommand(app);
  AddTokenCommands(app);
  AddKeysCommand(app);
  AddPolicyCommand(app);
  AddDeployCommand(app);
  AddTunnelCommand(app);
  AddEchoCommand(app);
  AddBenchCommand(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}

}  // namespace
}  // namespace nodegate::cli

// CLI11_PARSE turns Fail()'s CLI::RuntimeError (and every parse error) into an exit code. Anything
// else a subcommand lets escape would otherwise end in std::terminate (abort, no message naming
// nodegate); it ends here as a one-line error and exit status 1 instead.
int main(int argc, char** argv) {
  const nodegate::cli::GrpcLibraryScope grpc_library;
  try {
    return nodegate::cli::Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "nodegate: unexpected error: " << e.what() << std::endl;
  } catch (...) {
    std::cerr << "nodegate: unexpected error (not a std::exception)" << std::endl;
  }
  return 1;
}
