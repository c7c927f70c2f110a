// nodegate: one binary, many subcommands.
#include <grpc/grpc.h>

#include <algorithm>
#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/closest_name.h"
#include "cli/commands.h"
#include "cli/daemon.h"
#include "client/rpc_error.h"

namespace nodegate::cli {

void Fail(const std::string& what, const std::string& message, int code) {
  std::cerr << "nodegate " << what << ": " << message << std::endl;
  throw CLI::RuntimeError(code);
}

void FailRpc(const std::string& what, const std::string& context, const grpc::Status& status,
             const std::string& hint) {
  const int code = static_cast<int>(status.error_code());
  Fail(what,
       absl::StrCat(context, context.empty() ? "" : ": ", client::StatusCodeName(code), ": ",
                    status.error_message(), hint),
       kRpcExitBase + code);
}

namespace {

std::string UnknownCommand(const std::string& typed, const std::vector<std::string>& commands) {
  std::optional<std::string> meant = base::ClosestName(typed, commands);
  return absl::StrCat("unknown command '", typed, "'",
                      meant ? absl::StrCat(" — did you mean '", *meant, "'?") : "",
                      "\ncommands: ", absl::StrJoin(commands, ", "));
}

}  // namespace

void FailUnknownCommand(const std::string& what, const std::string& typed,
                        const std::vector<std::string>& commands) {
  Fail(what, UnknownCommand(typed, commands), kUsageExit);
}

namespace {

// "nodegate pki issue": the names from the root to `app`.
std::string CommandPath(const CLI::App* app) {
  std::vector<std::string> names;
  for (; app != nullptr; app = app->get_parent()) names.insert(names.begin(), app->get_name());
  return absl::StrJoin(names, " ");
}

// The subcommand the command line got to before the error: its flags are the ones that apply.
CLI::App* Deepest(CLI::App* app) {
  while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
  return app;
}

// Every parse error is a usage error (exit 2), not CLI11's per-kind codes (106, 109, …), which
// tell a script nothing. A word where a subcommand was expected gets git's "did you mean".
int UsageError(CLI::App& app, const CLI::ParseError& error) {
  CLI::App* at = Deepest(&app);
  std::vector<std::string> commands;
  for (const CLI::App* sub : at->get_subcommands([](CLI::App*) { return true; })) {
    commands.push_back(sub->get_name());
  }
  if (!commands.empty()) {
    for (const std::string& word : app.remaining(true)) {
      if (word.empty() || word[0] == '-') continue;
      if (std::find(commands.begin(), commands.end(), word) != commands.end()) break;
      std::cerr << CommandPath(at) << ": " << UnknownCommand(word, commands) << std::endl;
      return kUsageExit;
    }
    if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr &&
        at->get_subcommands().empty()) {
      std::cerr << CommandPath(at) << ": give a command: " << absl::StrJoin(commands, ", ")
                << "\nRun '" << CommandPath(at) << " --help' for usage." << std::endl;
      return kUsageExit;
    }
  }
  std::cerr << CommandPath(at) << ": " << error.what() << "\nRun '" << CommandPath(at)
            << " --help' for usage." << std::endl;
  return kUsageExit;
}

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
  app.set_version_flag(
      "--version", [] { return VersionText(); },
      "Print the version, the git commit and the gRPC, OpenSSL and SQLite in use");
  // At most one; none prints the help (below).
  app.require_subcommand(0, 1);
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
  AddListCommand(app);
  AddDescribeCommand(app);
  AddDoctorCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {  // Fail(): the reason is printed already
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    return UsageError(app, e);
  }
  if (app.get_subcommands().empty()) {
    // Bare `nodegate`: the help, on stdout, but exit 2 — no command ran, and a script that
    // expanded an empty variable should not pass.
    std::cout << app.help();
    return kUsageExit;
  }
  return 0;
}

}  // namespace
}  // namespace nodegate::cli

// Run() turns Fail()'s CLI::RuntimeError (and every parse error) into an exit code. Anything
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
