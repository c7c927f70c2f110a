// nodegate tunnel server|client: a TLS proxy for plain-TCP services (like ghostunnel / stunnel).
//   server: TLS in (mTLS required by default, allow-lists) → plain TCP to --target
//   client: plain TCP in on --listen → mTLS to --target, verifying the server's name
#include <signal.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/daemon.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"
#include "tls/server_credentials.h"
#include "tunnel/echo_server.h"
#include "tunnel/tunnel_client.h"
#include "tunnel/tunnel_server.h"

namespace nodegate::cli {

namespace {

struct TunnelFlags {
  tunnel::TunnelOptions options;
  std::string client_auth = "require";
  std::string idle_timeout = "5m";
  std::string handshake_timeout = "10s";
  std::string reload_interval = "1s";
  std::string log_level = "info";
};

void ParseDurationFlag(const std::string& flag, const std::string& text, absl::Duration* out) {
  if (!absl::ParseDuration(text, out) || *out <= absl::ZeroDuration()) {
    Fail("tunnel", "--" + flag + ": '" + text + "' is not a positive duration such as 30s or 5m",
         2);
  }
}

void AddCommonFlags(CLI::App* cmd, TunnelFlags& f) {
  cmd->add_option("--listen", f.options.listen, "Listen address host:port (port 0 = any free)")
      ->required();
  cmd->add_option("--target", f.options.target, "Where to forward: host:port")->required();
  cmd->add_option("--cert", f.options.files.cert, "This side's certificate chain (PEM)")
      ->required();
  cmd->add_option("--key", f.options.files.key, "This side's private key (PEM)")->required();
  cmd->add_option("--ca", f.options.files.ca, "CA that verifies the peer (PEM)")->required();
  cmd->add_option("--crl", f.options.files.crl, "CRL checked against the peer's certificate");
  cmd->add_option("--idle-timeout", f.idle_timeout,
                  "Close a connection with no traffic either way for this long")
      ->default_val("5m");
  cmd->add_option("--handshake-timeout", f.handshake_timeout, "Bound on connect + TLS handshake")
      ->default_val("10s");
  cmd->add_option("--max-connections", f.options.max_connections,
                  "Open connections at most; more are closed at once")
      ->default_val(1024);
  cmd->add_option("--reload-interval", f.reload_interval,
                  "How often the certificate files are checked for changes (SIGHUP: now)")
      ->default_val("1s");
  cmd->add_option("--trust-domain", f.options.trust_domain,
                  "Trust domain for node ids (spiffe://<domain>/node/<id>)")
      ->default_val("nodegate.local");
  cmd->add_option("--log-level", f.log_level, "trace|debug|info|warn|error")->default_val("info");
}

template <typename T>
int RunTunnel(const char* mode, TunnelFlags& f) {
  if (std::string_view(mode) == "server") {
    if (absl::Status allow = tunnel::ValidateAllowList(f.options.allow); !allow.ok()) {
      Fail("tunnel", std::string(allow.message()), kUsageExit);
    }
  }
  ParseDurationFlag("idle-timeout", f.idle_timeout, &f.options.idle_timeout);
  ParseDurationFlag("handshake-timeout", f.handshake_timeout, &f.options.handshake_timeout);
  ParseDurationFlag("reload-interval", f.reload_interval, &f.options.reload_interval);
  absl::StatusOr<tls::ClientAuth> auth = tls::ParseClientAuth(f.client_auth);
  if (!auth.ok()) Fail("tunnel", "--client-auth: " + std::string(auth.status().message()), 2);
  f.options.client_auth = *auth;
  f.options.name = std::string("tunnel ") + mode;
  SetUpDaemonLog("nodegate-proxy", f.log_level);
  BlockStopSignals();
  absl::StatusOr<std::unique_ptr<T>> t = T::Start(f.options);
  if (!t.ok()) Fail("tunnel", std::string(t.status().message()));
  spdlog::info("tunnel {} listening tunnel={} target={}", mode, (*t)->address(), f.options.target);
  int sig = WaitForStopSignal([&t] { (void)(*t)->Reload(); });
  spdlog::info("{}: stopping (open connections are closed)", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*t)->Stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

void AddTunnelCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "tunnel",
      "TLS proxy for plain-TCP services (see docs/tunnel.md).\n"
      "  tunnel server: TLS in (client certificates required by default) → plain TCP backend\n"
      "  tunnel client: plain TCP in on a local port → mTLS to a tunnel server\n"
      "Certificates are re-read when their files change (new connections get them, open ones\n"
      "stay up). One log line per connection. SIGHUP: re-check files now; SIGTERM: stop.");
  cmd->require_subcommand(1);

  auto server = std::make_shared<TunnelFlags>();
  auto* s = cmd->add_subcommand("server", "Accept TLS, check the client, forward to --target");
  AddCommonFlags(s, *server);
  s->add_option("--client-auth", server->client_auth, "require (default, mTLS) | request | none")
      ->default_val("require");
  s->add_option("--allow-cn", server->options.allow.cns,
                "Allow client certificates with this subject CN (repeatable)");
  s->add_option("--allow-node-id", server->options.allow.node_ids,
                "Allow this node id: spiffe URI's last segment, else CN (repeatable)");
  s->add_option("--allow-uri", server->options.allow.uris,
                "Allow client certificates with this URI SAN (repeatable)");
  s->add_flag("--allow-all", server->options.allow.all,
              "Let every client certificate that verifies against --ca (and the CRL) pass");
  s->footer(
      "Who may pass must be said: one or more --allow-* entries (only certificates matching one\n"
      "of them pass; everyone else is refused after the handshake), or --allow-all (the CA is\n"
      "the allow-list). With neither, the server refuses to start (exit 2), so that a forgotten\n"
      "flag never opens the backend to every certificate of the CA.");
  s->callback([server] { RunTunnel<tunnel::TunnelServer>("server", *server); });

  auto client = std::make_shared<TunnelFlags>();
  auto* c =
      cmd->add_subcommand("client", "Accept plain TCP locally, forward over mTLS to --target");
  AddCommonFlags(c, *client);
  c->add_option("--server-name", client->options.server_name,
                "Name (DNS or IP) the server certificate must carry; default: --target's host");
  c->callback([client] { RunTunnel<tunnel::TunnelClient>("client", *client); });
}

}  // namespace nodegate::cli
