// nodegate bench: a load generator for unary methods (ghz-like), on the library's TLS/mTLS
// channel credentials and per-call credentials — the same flags as `nodegate call`.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/client_flags.h"
#include "cli/commands.h"
#include "loadgen/load_generator.h"

namespace nodegate::cli {
namespace {

struct BenchFlags {
  ClientFlags client;  // as `nodegate call`
  std::string timeout = "5s";
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
    Fail("bench",
         name + ": '" + value + "' is not a " + (zero_ok ? "" : "positive ") +
             "duration such as 20s",
         2);
  }
  return d;
}

void RunBench(BenchFlags f) {
  ApplyClientConfig(&f.client, "bench");  // config file first, flags on top
  if (f.client.target.empty()) Fail("bench", "no target: give --target or --config", 2);
  if (!f.plaintext && f.client.ca.empty()) {
    Fail("bench", "no CA: give --ca, --config or --plaintext", 2);
  }

  loadgen::Options o;
  o.target = f.client.target;
  o.method = f.method;
  o.plaintext = f.plaintext;
  o.tls = TlsOptions(f.client);
  o.call_credentials = CallCredentials(f.client, "bench");
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
    std::cout << absl::StrFormat(
                     "target    %s %s (%s), %d connections, %d in flight\n", o.target, o.method,
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
  AddClientFlags(cmd, &f->client);
  cmd->add_option("--method", f->method, "Full method path; the request is the empty message")
      ->capture_default_str();
  cmd->add_option("--connections", f->connections, "HTTP/2 connections")->capture_default_str();
  cmd->add_option("--concurrency", f->concurrency, "Calls in flight (over all connections)")
      ->capture_default_str();
  cmd->add_option("--duration", f->duration, "Measured window")->capture_default_str();
  cmd->add_option("--requests", f->requests, "Stop after N measured calls (instead of --duration)");
  cmd->add_option("--rate", f->rate,
                  "Target calls/s (open loop: each call starts at its due time and its latency "
                  "counts from then; how late calls started is reported as the start lag). The "
                  "generator polls its completion queue to keep time, so it keeps its cores busy: "
                  "pin it (taskset) away from the server. 0 = as fast as possible")
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
  cmd->add_option("--timeout", f->timeout, "Deadline per call")->capture_default_str();
  cmd->callback([f] { RunBench(*f); });
}

}  // namespace nodegate::cli
