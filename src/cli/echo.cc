// nodegate echo: the seed's echo server, with optional TLS and client-certificate checks — a test
// peer for tunnels and for users checking their certificates.
#include <signal.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/daemon.h"
#include "spdlog/spdlog.h"
#include "tls/server_credentials.h"
#include "tunnel/echo_server.h"

namespace nodegate::cli {

void AddEchoCommand(CLI::App& app) {
  struct Flags {
    tunnel::TunnelOptions options;
    std::string client_auth;
    std::string idle_timeout = "5m";
    std::string log_level = "info";
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "echo",
      "Echo every byte back (TLS with --tls-cert/--tls-key, plain TCP without).\n"
      "With --client-ca, clients must present a certificate from that CA.\n"
      "One log line per connection; SIGHUP re-reads the files; SIGTERM stops.");
  cmd->add_option("--listen", f->options.listen, "host:port (port 0 = any free)")
      ->default_val("127.0.0.1:0");
  cmd->add_option("--tls-cert", f->options.files.cert, "Server certificate chain (PEM)");
  cmd->add_option("--tls-key", f->options.files.key, "Server private key (PEM)");
  cmd->add_option("--client-ca", f->options.files.ca, "Require client certificates from this CA");
  cmd->add_option("--client-auth", f->client_auth,
                  "require | request | none (default: require with --client-ca, else none)");
  cmd->add_option("--idle-timeout", f->idle_timeout, "Close idle connections after this long")
      ->default_val("5m");
  cmd->add_option("--max-connections", f->options.max_connections, "Open connections at most")
      ->default_val(1024);
  cmd->add_option("--log-level", f->log_level, "trace|debug|info|warn|error")->default_val("info");
  cmd->callback([f] {
    if (f->options.files.cert.empty() != f->options.files.key.empty()) {
      Fail("echo", "--tls-cert and --tls-key go together", 2);
    }
    if (f->client_auth.empty()) f->client_auth = f->options.files.ca.empty() ? "none" : "require";
    absl::StatusOr<tls::ClientAuth> auth = tls::ParseClientAuth(f->client_auth);
    if (!auth.ok()) Fail("echo", "--client-auth: " + std::string(auth.status().message()), 2);
    f->options.client_auth = *auth;
    if (!absl::ParseDuration(f->idle_timeout, &f->options.idle_timeout) ||
        f->options.idle_timeout <= absl::ZeroDuration()) {
      Fail("echo", "--idle-timeout: '" + f->idle_timeout + "' is not a positive duration", 2);
    }
    f->options.name = "echo";
    SetUpDaemonLog("nodegate-proxy", f->log_level);
    BlockStopSignals();
    absl::StatusOr<std::unique_ptr<tunnel::EchoServer>> echo =
        tunnel::EchoServer::Start(f->options);
    if (!echo.ok()) Fail("echo", std::string(echo.status().message()));
    spdlog::info("echo listening echo={} tls={} client_auth={}", (*echo)->address(),
                 f->options.files.cert.empty() ? "off" : "on", f->client_auth);
    int sig = WaitForStopSignal([&echo] { (void)(*echo)->Reload(); });
    spdlog::info("{}: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    (*echo)->Stop();
    spdlog::info("stopped");
  });
}

}  // namespace nodegate::cli
