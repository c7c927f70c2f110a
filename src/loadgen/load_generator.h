// A closed-loop (or rate-paced) unary gRPC load generator, the engine of `nodegate bench`.
//
// It runs on gRPC's completion-queue async API with one CompletionQueue and one thread per
// worker: each thread owns a fixed set of call slots. Closed loop, a slot starts its next call
// from the completion of its previous one, so there is no thread hop, no lock and no allocation
// on the hot path beyond what gRPC itself does per call. With a rate, calls fall due on a fixed
// schedule (OpenLoopSchedule) whether or not earlier ones came back; the worker polls its queue
// while a call is nearly due and starts it on time, latency counts from the due time (no
// coordinated omission), and how late calls actually started is reported as the start lag.
// Any unary method can be called (generic stub, raw request bytes); call credentials (signature,
// token, app key) run per call, so a signing credential signs every call afresh.
#pragma once

#include <grpcpp/security/credentials.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "loadgen/histogram.h"
#include "tls/channel.h"

namespace nodegate::loadgen {

struct Options {
  std::string target;         // host:port
  std::string method;         // full path, "/api.DiceService/RollDie"
  std::string request;        // serialized request message (empty = default message)
  bool plaintext = false;     // h2c (e.g. grpc.local_listen); else TLS with `tls`
  tls::ClientTlsOptions tls;  // ca/cert/key/server_name; `target` is ignored here
  std::shared_ptr<grpc::CallCredentials> call_credentials;  // may be null
  int connections = 1;                          // channels, each its own HTTP/2 connection
  int concurrency = 1;                          // calls in flight, spread over the connections
  int threads = 0;                              // 0 = one per CPU this process may run on
  absl::Duration duration = absl::Seconds(10);  // measured window, unless `requests` > 0
  int64_t requests = 0;                         // > 0: stop after this many measured calls
  double rate = 0;  // calls/s over all connections; 0 = as fast as possible
  absl::Duration warmup = absl::ZeroDuration();  // load before the window, not recorded
  absl::Duration timeout = absl::Seconds(5);     // deadline per call
  // Cold-path mode: every call on a new connection (full TLS handshake each time).
  bool new_connection_per_call = false;
  // With new_connection_per_call: share a TLS session cache so handshakes can resume.
  bool tls_resumption = false;
  // The clock that schedules calls, ends the window and measures latency (SteadyNow). Not owned;
  // must outlive the generator. Tests pass a testlib::ManualClock to step through a schedule.
  base::Clock* clock = &base::Clock::Real();
};

struct Progress {
  absl::Duration elapsed;  // since the start of the load (warmup included)
  bool warming_up = false;
  int64_t completed = 0;  // calls completed in the measured window so far
  int64_t errors = 0;
};

struct Result {
  absl::Duration window;  // measured wall time
  int64_t calls = 0;      // completed in the window (ok + errors)
  int64_t ok = 0;
  std::array<int64_t, 17> by_code{};  // grpc::StatusCode → count
  double qps = 0;                     // ok calls per second of window
  Histogram latency_ns;               // all completed calls in the window, ok or not
  // Rate mode (`paced`): actual minus due start of each call due in the window. Latency already
  // includes it; it tells generator lag from server time. `owed_calls` of them fell due while
  // all `concurrency` slots were busy: their lag is the server holding calls, not the generator.
  bool paced = false;
  Histogram start_lag_ns;
  int64_t owed_calls = 0;
  int64_t resumed_sessions = 0;  // with tls_resumption: calls whose handshake resumed
  int threads = 0;

  // Machine-readable form (`nodegate bench --json`).
  std::string ToJson(const Options& options) const;
  // Human-readable summary.
  std::string ToText() const;
};

class LoadGenerator {
 public:
  // Validates the options and opens the channels (connections are made lazily by gRPC on the
  // first call; the warmup absorbs that).
  static absl::StatusOr<std::unique_ptr<LoadGenerator>> New(Options options);
  ~LoadGenerator();

  // Runs the load to completion on worker threads; `progress` (if set) is called on the calling
  // thread about every `progress_interval` while it runs.
  Result Run(const std::function<void(const Progress&)>& progress = nullptr,
             absl::Duration progress_interval = absl::Seconds(1));

  struct Impl;

 private:
  explicit LoadGenerator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "OK", "UNAUTHENTICATED", … for 0..16.
const char* StatusCodeName(int code);

}  // namespace nodegate::loadgen
