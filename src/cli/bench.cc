// nodegate bench: a load generator for unary methods (ghz-like), on the library's TLS/mTLS
// channel credentials and per-call credentials — the same flags as `nodegate call`.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "auth/call_credentials.h"
#include "base/files.h"
#include "cli/commands.h"
#include "crypto/key.h"
#include "crypto/signer_factory.h"
#include "loadgen/load_generator.h"
#include "server/config.h"

namespace nodegate::cli {
namespace {

struct BenchFlags {
  // As `nodegate call`.
  std::string config, target, ca, cert, key, server_name, timeout = "5s";
  std::string sign_key, node_id, audience, token, token_header = "bearer", app_key, app_secret;
  bool app_key_underscore = false;
  // Load shape.
  std::string method = "/api.DiceService/RollDie";
  int connections = 1, concurrency = 16, threads = 0;
  std::string duration = "10s", warmup = "0s";
  int64_t requests = 0;
  double rate = 0;
  bool plaintext = false, new_connection = false, resume = false, json = false;
};

absl::Duration ParseDurationFlag(const std::string& name, const std::string& value, bool zero_ok) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration() ||
      (!zero_ok && d == absl::ZeroDuration())) {
    Fail("bench", name + ": '" + value + "' is not a " + (zero_ok ? "" : "positive ") +
                      "duration such as 20s", 2);
  }
  return d;
}

// The call credentials `nodegate call` would use; signing credentials sign every call afresh.
std::shared_ptr<grpc::CallCredentials> CallCredentials(const BenchFlags& f) {
  std::shared_ptr<grpc::CallCredentials> creds;
  auto add = [&](std::shared_ptr<grpc::CallCredentials> c) {
    creds = creds ? grpc::CompositeCallCredentials(creds, c) : c;
  };
  if (!f.sign_key.empty()) {
    if (f.node_id.empty()) Fail("bench", "--sign-key needs --node-id (the signing node)", 2);
    if (f.audience.empty()) Fail("bench", "--sign-key needs --audience (the called node's id)", 2);
    absl::StatusOr<std::string> pem = base::ReadFile(f.sign_key);
    if (!pem.ok()) Fail("bench", std::string(pem.status().message()), 2);
    absl::StatusOr<crypto::Algorithm> alg = crypto::DetectAlgorithm(*pem);
    if (!alg.ok()) Fail("bench", "--sign-key: " + std::string(alg.status().message()), 2);
    absl::StatusOr<std::unique_ptr<crypto::Signer>> signer = crypto::NewSigner(*alg, *pem);
    if (!signer.ok()) Fail("bench", "--sign-key: " + std::string(signer.status().message()), 2);
    add(auth::NewSignatureCallCredentials(f.node_id, f.audience,
                                          std::shared_ptr<const crypto::Signer>(*std::move(signer))));
  }
  if (!f.token.empty()) {
    if (f.token_header != "bearer" && f.token_header != "access-token") {
      Fail("bench", "--token-header: bearer or access-token", 2);
    }
    add(auth::NewTokenCallCredentials(f.token, f.token_header == "bearer"
                                                   ? auth::TokenHeader::kBearer
                                                   : auth::TokenHeader::kAccessToken));
  }
  if (!f.app_key.empty() || !f.app_secret.empty()) {
    if (f.app_key.empty() || f.app_secret.empty()) {
      Fail("bench", "--app-key and --app-secret go together", 2);
    }
    add(auth::NewAppKeyCallCredentials(f.app_key, f.app_secret, f.app_key_underscore));
  }
  return creds;
}

void RunBench(BenchFlags f) {
  if (!f.config.empty()) {  // config file first, flags on top (as `nodegate call`)
    absl::StatusOr<server::ClientConfig> c = server::LoadClientConfig(f.config);
    if (!c.ok()) Fail("bench", std::string(c.status().message()), 2);
    auto pick = [](std::string& flag, const std::string& from_config) {
      if (flag.empty()) flag = from_config;
    };
    pick(f.target, c->target);
    pick(f.ca, c->ca);
    pick(f.cert, c->cert);
    pick(f.key, c->key);
    pick(f.server_name, c->server_name);
    pick(f.node_id, c->node_id);
    pick(f.audience, c->audience);
    pick(f.sign_key, c->sign_key);
    pick(f.token, c->token);
    pick(f.app_key, c->app_key);
    pick(f.app_secret, c->app_secret);
  }
  if (f.target.empty()) Fail("bench", "no target: give --target or --config", 2);
  if (!f.plaintext && f.ca.empty()) Fail("bench", "no CA: give --ca, --config or --plaintext", 2);

  loadgen::Options o;
  o.target = f.target;
  o.method = f.method;
  o.plaintext = f.plaintext;
  o.tls = tls::ClientTlsOptions{f.target, f.ca, f.cert, f.key, f.server_name};
  o.call_credentials = CallCredentials(f);
  o.connections = f.connections;
  o.concurrency = f.concurrency;
  o.threads = f.threads;
  o.requests = f.requests;
  if (f.requests == 0) o.duration = ParseDurationFlag("--duration", f.duration, false);
  o.warmup = ParseDurationFlag("--warmup", f.warmup, true);
  o.timeout = ParseDurationFlag("--timeout", f.timeout, false);
  o.rate = f.rate;
  o.new_connection_per_call = f.new_connection;
  o.tls_resumption = f.resume;

  absl::StatusOr<std::unique_ptr<loadgen::LoadGenerator>> gen = loadgen::LoadGenerator::New(o);
  if (!gen.ok()) Fail("bench", std::string(gen.status().message()), 2);
  const bool tty = isatty(STDERR_FILENO) == 1;
  std::function<void(const loadgen::Progress&)> progress;
  if (tty) {
    progress = [](const loadgen::Progress& p) {
      std::fprintf(stderr, "\r\033[K[%5.1fs] %s %lld calls, %lld errors",
                   absl::ToDoubleSeconds(p.elapsed), p.warming_up ? "warming up" : "measuring",
                   static_cast<long long>(p.completed), static_cast<long long>(p.errors));
      std::fflush(stderr);
    };
  }
  loadgen::Result r = (*gen)->Run(progress);
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (f.json) {
    std::cout << r.ToJson(o) << std::endl;
  } else {
    std::cout << absl::StrFormat("target    %s %s (%s), %d connections, %d in flight\n",
                                 o.target, o.method,
                                 o.plaintext ? "plaintext" : (o.tls.cert_file.empty() ? "tls" : "mtls"),
                                 o.new_connection_per_call ? -1 : o.connections, o.concurrency)
              << r.ToText();
  }
}

}  // namespace

void AddBenchCommand(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  auto* cmd = app.add_subcommand(
      "bench",
      "Load-test a unary method: QPS, latency percentiles (p50/p90/p99/p99.9/max) and errors by\n"
      "status code, over TLS/mTLS (or --plaintext h2c) with the per-call credentials of `nodegate\n"
      "call` (a signing key signs every call afresh). Exit 0 even if calls fail: errors are data.");
  cmd->add_option("--config,-c", f->config, "Client config (TOML, [client] table)");
  cmd->add_option("--target", f->target, "host:port of the node");
  cmd->add_option("--method", f->method, "Full method path; the request is the empty message")
      ->capture_default_str();
  cmd->add_option("--connections", f->connections, "HTTP/2 connections")->capture_default_str();
  cmd->add_option("--concurrency", f->concurrency, "Calls in flight (over all connections)")
      ->capture_default_str();
  cmd->add_option("--duration", f->duration, "Measured window")->capture_default_str();
  cmd->add_option("--requests", f->requests, "Stop after N measured calls (instead of --duration)");
  cmd->add_option("--rate", f->rate, "Target calls/s (open loop, latency from the intended start); "
                                     "0 = as fast as possible")
      ->capture_default_str();
  cmd->add_option("--warmup", f->warmup, "Load before the measured window, not recorded")
      ->capture_default_str();
  cmd->add_option("--threads", f->threads, "Client threads (default: one per CPU allowed)");
  cmd->add_flag("--plaintext", f->plaintext, "h2c, e.g. to grpc.local_listen (no TLS)");
  cmd->add_flag("--new-connection-per-call", f->new_connection,
                "Cold path: a new connection (full handshake) for every call");
  cmd->add_flag("--resume", f->resume,
                "With --new-connection-per-call: share a TLS session cache so handshakes can "
                "resume");
  cmd->add_flag("--json", f->json, "Print the result as one JSON object");
  cmd->add_option("--ca", f->ca, "CA bundle that the server certificate must chain to");
  cmd->add_option("--cert", f->cert, "Client certificate (mTLS)");
  cmd->add_option("--key", f->key, "Client key");
  cmd->add_option("--server-name", f->server_name, "Expected server name (default: from target)");
  cmd->add_option("--sign-key", f->sign_key,
                  "Sign every call (wire format v1) with this PEM private key");
  cmd->add_option("--node-id", f->node_id, "Signing node id (x-node-id)");
  cmd->add_option("--audience", f->audience, "Id of the node being called (signed audience)");
  cmd->add_option("--token", f->token, "Access token");
  cmd->add_option("--token-header", f->token_header, "bearer (authorization: Bearer) | access-token")
      ->capture_default_str();
  cmd->add_option("--app-key", f->app_key, "App key id");
  cmd->add_option("--app-secret", f->app_secret, "App secret");
  cmd->add_flag("--app-key-underscore", f->app_key_underscore,
                "Send app_key/app_secret (the seed's spelling) instead of app-key/app-secret");
  cmd->add_option("--timeout", f->timeout, "Deadline per call")->capture_default_str();
  cmd->callback([f] { RunBench(*f); });
}

}  // namespace nodegate::cli
