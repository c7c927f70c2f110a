// Each subcommand lives in its own file and registers itself on the root app. Subcommands only
// parse flags and call the library; they report failure by throwing CLI::RuntimeError(exit_code)
// after printing the reason, which main() turns into the process exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

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

// Prints "nodegate <what>: <message>" to stderr and throws CLI::RuntimeError(code).
[[noreturn]] void Fail(const std::string& what, const std::string& message, int code = 1);

}  // namespace nodegate::cli
