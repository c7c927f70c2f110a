// Each subcommand lives in its own file and registers itself on the root app. Subcommands only
// parse flags and call the library; they report failure by throwing CLI::RuntimeError(exit_code)
// after printing the reason, which main() turns into the process exit code.
//
// Exit codes, the same for every subcommand (docs/cli.md): 0 success; 1 the command could not do
// its work (a file, the store, a certificate); 2 usage — the command line is wrong (an unknown
// command or flag, a bad flag value), as CLI11's own parse errors; 64 + N an RPC to a node ended
// with gRPC status N (grpcurl's convention: UNAUTHENTICATED 80, PERMISSION_DENIED 71).
#pragma once

#include <grpcpp/support/status.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace nodegate::cli {

void AddServeCommand(CLI::App& app);
void AddInitCommand(CLI::App& app);
void AddPkiCommand(CLI::App& app);
void AddCallCommand(CLI::App& app);
void AddNodeCommand(CLI::App& app);
// `node invite` (under the node command) and the top-level `join`.
void AddJoinCommands(CLI::App& app, CLI::App* node);
void AddTokenCommands(CLI::App& app);  // token + appkey
void AddKeysCommand(CLI::App& app);
void AddPolicyCommand(CLI::App& app);
void AddDeployCommand(CLI::App& app);
void AddTunnelCommand(CLI::App& app);  // tunnel server|client (tunnel.cc)
void AddEchoCommand(CLI::App& app);    // echo (echo.cc)

void AddBenchCommand(CLI::App& app);
void AddListCommand(CLI::App& app);      // list (list.cc)
void AddDescribeCommand(CLI::App& app);  // describe (describe.cc)
void AddDoctorCommand(CLI::App& app);    // doctor (doctor.cc)

// `nodegate --version`: version, git commit, and the gRPC, OpenSSL and SQLite it runs with.
std::string VersionText();

inline constexpr int kUsageExit = 2;
inline constexpr int kRpcExitBase = 64;

// Prints "nodegate <what>: <message>" to stderr and throws CLI::RuntimeError(code).
[[noreturn]] void Fail(const std::string& what, const std::string& message, int code = 1);

// An RPC that ended with `status`: prints "nodegate <what>: <context>: CODE: message" (+ `hint`,
// e.g. DialFailureHint's sentence) and exits 64 + the gRPC code.
[[noreturn]] void FailRpc(const std::string& what, const std::string& context,
                          const grpc::Status& status, const std::string& hint = "");

// "unknown command 'X' (did you mean 'Y'?)" for `typed` among `commands`, then exit 2.
[[noreturn]] void FailUnknownCommand(const std::string& what, const std::string& typed,
                                     const std::vector<std::string>& commands);

}  // namespace nodegate::cli
