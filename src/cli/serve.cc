// nodegate serve --config FILE: the node daemon.
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/daemon.h"
#include "doctor/node_checks.h"
#include "server/config.h"
#include "server/node.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace nodegate::cli {
namespace {

int Serve(const std::string& config_path) {
  absl::StatusOr<server::NodeConfig> config = server::LoadNodeConfig(config_path);
  if (!config.ok()) Fail("serve", std::string(config.status().message()));
  SetUpDaemonLog("nodegate", config->log.level);

  // Signals are taken synchronously by this thread only: block them before gRPC starts threads.
  BlockStopSignals();

  absl::StatusOr<std::unique_ptr<server::Node>> node = server::Node::Create(*config);
  if (!node.ok()) Fail("serve", std::string(node.status().message()));
  spdlog::info("node {} listening grpc={} (engine {})", config->node.id, (*node)->grpc_address(),
               config->grpc.engine == rpc::Engine::kH2 ? "h2" : "grpc");
  if (!(*node)->local_address().empty()) {
    spdlog::info("node {} listening local={} (plaintext h2c, loopback only, same auth checks)",
                 config->node.id, (*node)->local_address());
  }
  if (!(*node)->http_address().empty()) {
    spdlog::info("node {} listening http={} (HTTPS console, JSON gateway, /metrics)",
                 config->node.id, (*node)->http_address());
  }
  std::filesystem::path client_toml =
      std::filesystem::path(config_path).parent_path() / "client.toml";
  if (std::filesystem::exists(client_toml)) {
    spdlog::info("call it: nodegate call dice --config {}", client_toml.string());
  }

  int sig = WaitForStopSignal([&node] {
    absl::Status s = (*node)->Reload();
    if (s.ok()) {
      spdlog::info("SIGHUP: tls files checked, policy rules reloaded");
    } else {
      spdlog::error("SIGHUP: reload refused: {}", std::string(s.message()));
    }
  });
  spdlog::info("{}: draining (grace {})", sig == SIGINT ? "SIGINT" : "SIGTERM",
               absl::FormatDuration(config->grpc.shutdown_grace));
  (*node)->Shutdown(config->grpc.shutdown_grace);
  spdlog::info("stopped");
  return 0;
}

// `serve --check` (as `nginx -t`): everything `serve` validates before it binds — the config, the
// TLS files as the reloader loads them, the policy, the store — without binding or changing
// anything. Problems on stderr, then the verdict; exit 0 (warnings allowed) or 1.
int Check(const std::string& config_path) {
  doctor::NodeCheckOptions options;
  options.now = absl::Now();
  options.probe_ports = false;
  options.check_nginx = false;
  std::vector<doctor::Finding> problems;
  int checks = 0;
  for (doctor::Finding& f : doctor::CheckNode(config_path, options)) {
    ++checks;
    if (f.level != doctor::Level::kOk) problems.push_back(std::move(f));
  }
  if (!problems.empty()) {
    std::string text = doctor::RenderText(problems);
    text.erase(text.rfind('\n', text.size() - 2) + 1);  // RenderText's count line: ours below
    std::cerr << text;
  }
  if (doctor::Worst(problems) == doctor::Level::kFail) {
    Fail("serve", absl::StrCat("configuration file ", config_path, " test failed (", checks,
                               " checks, ", problems.size(), " problem(s) above)"));
  }
  std::cerr << "nodegate: configuration file " << config_path << " test is successful (" << checks
            << " checks, " << problems.size() << " warning(s))" << std::endl;
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve",
      "Run the node daemon: gRPC over TLS/mTLS with hot-reloaded certificates.\n"
      "Signals: SIGHUP re-checks the TLS files and re-reads the policy rules now; SIGTERM/SIGINT "
      "drain in-flight calls\n"
      "(bounded by grpc.shutdown_grace) and exit 0. See docs/config.md for every key.");
  auto config = std::make_shared<std::string>();
  cmd->add_option("--config,-c", *config, "Node config file (TOML)")->required();
  auto check = std::make_shared<bool>(false);
  cmd->add_flag("--check,-t", *check,
                "Validate the config, TLS files, policy and store as serve would, print any "
                "problem and exit (0 ok, 1 failed) without serving (as nginx -t; nodegate doctor "
                "checks more)");
  cmd->callback([config, check] { *check ? Check(*config) : Serve(*config); });
}

}  // namespace nodegate::cli
