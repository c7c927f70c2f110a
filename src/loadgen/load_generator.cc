#include "loadgen/load_generator.h"

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loadgen/open_loop_schedule.h"
#include "nlohmann/json.hpp"

namespace nodegate::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

int CpusAllowed() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

// Instants of the generator's clock become system-clock deadlines for gRPC.
std::chrono::system_clock::time_point ToSystem(base::Clock& clock, Clock::time_point t) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - clock.SteadyNow());
}

// Rate mode blocks in the completion queue until this long before the next call is due, then
// polls it without blocking until the call is due. gRPC 1.51 cannot wait precisely: deadlines
// are whole milliseconds and so are its pollers' epoll_wait timeouts, so CompletionQueue::
// AsyncNext returned 0.1-2.1 ms after its deadline (p50 1.1 ms), and a grpc::Alarm per call (the
// pacing before) fired as late. A pacer thread sleeping precisely instead (clock_nanosleep to the
// due time, then starting the call itself) woke 20-40 us late, but on a Firecracker VM each
// wake-up of an idle core cost ~38 us of CPU and every call crossed threads, so one core no longer
// kept up with 30 k calls/s (start lag of hundreds of ms). Polling costs no wake-ups, only the
// core: a worker is busy whenever a call is due within this window (all the time above ~400
// calls/s per worker), yielding between polls so other threads on its core still run at once.
constexpr auto kPollWindow = std::chrono::microseconds(2500);

}  // namespace

const char* StatusCodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

struct Worker;

struct Slot {
  Worker* worker = nullptr;
  grpc::GenericStub* stub = nullptr;  // shared per connection, or own_stub below
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  grpc::ByteBuffer response;
  grpc::Status status;
  int index = 0;            // in worker->slots (the schedule's slot number)
  Clock::time_point start;  // intended start (rate mode) or actual start
  // new_connection_per_call: this call's own channel.
  std::shared_ptr<grpc::Channel> own_channel;
  std::unique_ptr<grpc::GenericStub> own_stub;
};

struct alignas(64) Worker {
  LoadGenerator::Impl* impl = nullptr;
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Slot>> slots;
  int active = 0;
  Histogram histogram;
  std::array<int64_t, 17> by_code{};
  int64_t resumed = 0;
  Clock::time_point last_completion{};
  std::atomic<int64_t> completed{0};
  std::atomic<int64_t> errors{0};

  // Rate mode: this worker's share of the calls, and how late each started.
  std::unique_ptr<OpenLoopSchedule> schedule;
  Histogram start_lag;
  int64_t owed = 0;

  // Closed loop: each slot starts its next call from the completion of its previous one.
  void Loop();
  void Next(Slot* s);
  // Rate mode: calls start at their due times (OpenLoopSchedule), slots or not.
  void PacedLoop();

  void Start(Slot* s);
  void Done(Slot* s);
};

struct LoadGenerator::Impl {
  Options options;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc_ssl_session_cache* session_cache = nullptr;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  grpc::ByteBuffer request;
  std::vector<std::unique_ptr<Worker>> workers;
  Clock::time_point measure_start;
  Clock::time_point end;  // duration mode; max() in requests mode
  std::atomic<int64_t> admitted_measured{0};
  std::atomic<bool> stop{false};
  std::atomic<int> channel_seq{0};

  ~Impl() {
    workers.clear();
    stubs.clear();
    channels.clear();
    if (session_cache != nullptr) grpc_ssl_session_cache_destroy(session_cache);
  }

  std::shared_ptr<grpc::Channel> NewChannel() {
    grpc::ChannelArguments args;
    if (!options.plaintext && !options.tls.server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls.server_name);
    }
    // A distinct argument keeps gRPC from sharing one subchannel (connection) between channels.
    args.SetInt("nodegate.loadgen.connection", channel_seq.fetch_add(1));
    if (session_cache != nullptr) {
      grpc_arg arg = grpc_ssl_session_cache_create_channel_arg(session_cache);
      args.SetPointerWithVtable(arg.key, arg.value.pointer.p, arg.value.pointer.vtable);
    }
    return grpc::CreateCustomChannel(options.target, credentials, args);
  }

  // May another call start now (closed loop), or the call due at `now` (rate mode)? Counts
  // measured calls in requests mode.
  bool Admit(Clock::time_point now) {
    if (stop.load(std::memory_order_relaxed)) return false;
    if (options.requests > 0) {
      if (now < measure_start) return true;
      if (admitted_measured.fetch_add(1, std::memory_order_relaxed) < options.requests) return true;
      stop.store(true, std::memory_order_relaxed);
      return false;
    }
    if (now >= end) {
      stop.store(true, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
};

void Worker::Loop() {
  active = static_cast<int>(slots.size());
  for (auto& s : slots) Next(s.get());
  void* tag = nullptr;
  bool ok = false;
  while (active > 0 && cq.Next(&tag, &ok)) {
    Slot* s = static_cast<Slot*>(tag);
    Done(s);
    Next(s);
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

void Worker::Next(Slot* s) {
  Clock::time_point now = impl->options.clock->SteadyNow();
  if (!impl->Admit(now)) {
    --active;
    return;
  }
  s->start = now;
  Start(s);
}

void Worker::PacedLoop() {
  auto admit = [this](Clock::time_point due) { return impl->Admit(due); };
  const gpr_timespec poll = gpr_inf_past(GPR_CLOCK_MONOTONIC);
  const gpr_timespec forever = gpr_inf_future(GPR_CLOCK_MONOTONIC);
  void* tag = nullptr;
  bool ok = false;
  base::Clock& clock = *impl->options.clock;
  while (true) {
    Clock::time_point now = clock.SteadyNow();
    if (now >= impl->end || impl->stop.load(std::memory_order_relaxed)) schedule->Finish();
    OpenLoopSchedule::Start c;
    while (schedule->Claim(now, admit, &c)) {
      Slot* s = slots[c.slot].get();
      s->start = c.due;  // latency counts from the due time, however late the call starts
      if (c.due >= impl->measure_start) {
        start_lag.Record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.due).count()));
        if (c.owed) ++owed;
      }
      Start(s);
      now = clock.SteadyNow();
    }
    if (schedule->drained()) break;
    // Wait for a completion, or until the next call is due (or the window ends). With no free
    // slot, only a completion can let a call start.
    Clock::time_point wake = schedule->NextClaim();
    grpc::CompletionQueue::NextStatus status;
    bool polled = false;
    if (wake == Clock::time_point::max()) {
      status = cq.AsyncNext(&tag, &ok, forever);
    } else if (std::min(wake, impl->end) - now > kPollWindow) {
      status = cq.AsyncNext(&tag, &ok, ToSystem(clock, std::min(wake, impl->end) - kPollWindow));
    } else {
      status = cq.AsyncNext(&tag, &ok, poll);
      polled = true;
    }
    if (status == grpc::CompletionQueue::GOT_EVENT) {
      Slot* s = static_cast<Slot*>(tag);
      Done(s);
      schedule->Release(s->index, clock.SteadyNow());
    } else if (status == grpc::CompletionQueue::SHUTDOWN) {
      break;
    } else if (polled) {
      // Nothing came in: let any other thread that wants this core have it for a moment.
      sched_yield();
    }
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

void Worker::Start(Slot* s) {
  const Options& o = impl->options;
  s->context = std::make_unique<grpc::ClientContext>();
  s->context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(o.timeout));
  grpc::GenericStub* stub = s->stub;
  if (o.new_connection_per_call) {
    s->own_stub.reset();
    s->own_channel = impl->NewChannel();
    s->own_stub = std::make_unique<grpc::GenericStub>(s->own_channel);
    stub = s->own_stub.get();
  }
  s->reader = stub->PrepareUnaryCall(s->context.get(), o.method, impl->request, &cq);
  s->reader->StartCall();
  s->reader->Finish(&s->response, &s->status, s);
}

void Worker::Done(Slot* s) {
  Clock::time_point now = impl->options.clock->SteadyNow();
  if (now >= impl->measure_start && now <= impl->end) {
    int code = static_cast<int>(s->status.error_code());
    if (code < 0 || code > 16) code = 2;  // UNKNOWN
    histogram.Record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - s->start).count()));
    ++by_code[code];
    completed.store(completed.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (code != 0)
      errors.store(errors.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    last_completion = std::max(last_completion, now);
    if (impl->session_cache != nullptr && code == 0) {
      std::shared_ptr<const grpc::AuthContext> auth = s->context->auth_context();
      if (auth) {
        auto reused = auth->FindPropertyValues("ssl_session_reused");
        if (!reused.empty() && reused.front() == "true") ++resumed;
      }
    }
  }
  s->response.Clear();
  if (impl->options.new_connection_per_call) {
    s->reader.reset();
    s->context.reset();
    s->own_stub.reset();
    s->own_channel.reset();  // closes the connection
  }
}

LoadGenerator::LoadGenerator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LoadGenerator::~LoadGenerator() = default;

absl::StatusOr<std::unique_ptr<LoadGenerator>> LoadGenerator::New(Options options) {
  if (options.target.empty()) return absl::InvalidArgumentError("bench: --target is empty");
  if (options.method.size() < 4 || options.method[0] != '/' ||
      options.method.find('/', 1) == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("bench: --method '", options.method,
                     "' is not a full path such as /api.DiceService/RollDie"));
  }
  if (options.connections < 1)
    return absl::InvalidArgumentError("bench: --connections must be >= 1");
  if (options.concurrency < 1)
    return absl::InvalidArgumentError("bench: --concurrency must be >= 1");
  if (options.requests < 0) return absl::InvalidArgumentError("bench: --requests must be >= 0");
  if (options.requests == 0 && options.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("bench: --duration must be positive");
  }
  // Below 0.001 calls/s the schedule's arithmetic (ns between calls) would overflow.
  if (!std::isfinite(options.rate) || options.rate < 0 ||
      (options.rate > 0 && options.rate < 1e-3)) {
    return absl::InvalidArgumentError(
        "bench: --rate must be 0 (as fast as possible) or at least 0.001 calls/s");
  }
  if (options.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("bench: --warmup must not be negative");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("bench: --timeout must be positive");
  }
  if (options.clock == nullptr) return absl::InvalidArgumentError("bench: no clock");
  if (options.tls_resumption && (options.plaintext || !options.new_connection_per_call)) {
    return absl::InvalidArgumentError(
        "bench: --resume needs TLS and --new-connection-per-call (a kept connection never "
        "handshakes again)");
  }
  if (options.threads <= 0) options.threads = CpusAllowed();
  options.threads = std::min(options.threads, options.concurrency);
  options.connections = std::min(options.connections, options.concurrency);

  auto impl = std::make_unique<Impl>();
  if (options.plaintext) {
    // Plain h2c cannot carry call credentials (gRPC requires a secure transport for them);
    // local-TCP credentials can, and match the server's grpc.local_listen.
    impl->credentials =
        options.call_credentials
            ? grpc::CompositeChannelCredentials(grpc::experimental::LocalCredentials(LOCAL_TCP),
                                                options.call_credentials)
            : grpc::InsecureChannelCredentials();
  } else {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
        tls::NewChannelCredentials(options.tls);
    if (!creds.ok()) return creds.status();
    impl->credentials = *creds;
    if (options.call_credentials) {
      impl->credentials =
          grpc::CompositeChannelCredentials(impl->credentials, options.call_credentials);
    }
  }
  if (options.tls_resumption) impl->session_cache = grpc_ssl_session_cache_create_lru(1024);
  grpc::Slice payload(options.request);
  impl->request = grpc::ByteBuffer(&payload, 1);
  impl->options = std::move(options);
  const Options& o = impl->options;
  if (!o.new_connection_per_call) {
    for (int i = 0; i < o.connections; ++i) {
      impl->channels.push_back(impl->NewChannel());
      impl->stubs.push_back(std::make_unique<grpc::GenericStub>(impl->channels.back()));
    }
  }
  for (int t = 0; t < o.threads; ++t) {
    auto w = std::make_unique<Worker>();
    w->impl = impl.get();
    impl->workers.push_back(std::move(w));
  }
  // Slot i uses connection i % connections and thread i % threads.
  for (int i = 0; i < o.concurrency; ++i) {
    auto s = std::make_unique<Slot>();
    Worker* w = impl->workers[i % o.threads].get();
    s->worker = w;
    s->index = static_cast<int>(w->slots.size());
    if (!o.new_connection_per_call) s->stub = impl->stubs[i % o.connections].get();
    w->slots.push_back(std::move(s));
  }
  return std::unique_ptr<LoadGenerator>(new LoadGenerator(std::move(impl)));
}

Result LoadGenerator::Run(const std::function<void(const Progress&)>& progress,
                          absl::Duration progress_interval) {
  Impl& im = *impl_;
  const Options& o = im.options;
  base::Clock& clock = *o.clock;
  Clock::time_point begin = clock.SteadyNow();
  im.measure_start = begin + absl::ToChronoNanoseconds(o.warmup);
  im.end = o.requests > 0 ? Clock::time_point::max()
                          : im.measure_start + absl::ToChronoNanoseconds(o.duration);
  const bool paced = o.rate > 0;
  if (paced) {
    // Worker w of n takes calls w, w+n, w+2n, … of one schedule at `rate`, so the workers'
    // calls interleave evenly instead of n of them falling due at the same instant.
    const double n = static_cast<double>(im.workers.size());
    for (size_t w = 0; w < im.workers.size(); ++w) {
      Clock::time_point first =
          begin +
          std::chrono::nanoseconds(static_cast<int64_t>(1e9 * static_cast<double>(w) / o.rate));
      im.workers[w]->schedule = std::make_unique<OpenLoopSchedule>(
          first, 1e9 * n / o.rate, static_cast<int>(im.workers[w]->slots.size()));
    }
  }
  std::vector<std::thread> threads;
  std::atomic<int> running{static_cast<int>(im.workers.size())};
  for (auto& w : im.workers) {
    threads.emplace_back([&running, paced, worker = w.get()] {
      if (paced) {
        worker->PacedLoop();
      } else {
        worker->Loop();
      }
      running.fetch_sub(1);
    });
  }
  auto tick = absl::ToChronoNanoseconds(progress_interval);
  if (tick <= std::chrono::nanoseconds::zero()) tick = std::chrono::seconds(1);
  Clock::time_point next_tick = begin + tick;
  while (running.load() > 0) {
    // Real time: this only looks whether the workers are done.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    Clock::time_point now = clock.SteadyNow();
    if (progress && now >= next_tick) {
      next_tick += tick;
      Progress p;
      p.elapsed = absl::FromChrono(now - begin);
      p.warming_up = now < im.measure_start;
      for (auto& w : im.workers) {
        p.completed += w->completed.load(std::memory_order_relaxed);
        p.errors += w->errors.load(std::memory_order_relaxed);
      }
      progress(p);
    }
  }
  for (auto& t : threads) t.join();

  Result r;
  r.threads = static_cast<int>(im.workers.size());
  r.paced = paced;
  Clock::time_point last = im.measure_start;
  for (auto& w : im.workers) {
    r.latency_ns.Merge(w->histogram);
    for (int c = 0; c < 17; ++c) r.by_code[c] += w->by_code[c];
    r.resumed_sessions += w->resumed;
    r.start_lag_ns.Merge(w->start_lag);
    r.owed_calls += w->owed;
    last = std::max(last, w->last_completion);
  }
  r.window = absl::FromChrono((o.requests > 0 ? last : im.end) - im.measure_start);
  for (int c = 0; c < 17; ++c) r.calls += r.by_code[c];
  r.ok = r.by_code[0];
  double seconds = absl::ToDoubleSeconds(r.window);
  r.qps = seconds > 0 ? static_cast<double>(r.ok) / seconds : 0;
  return r;
}

std::string Result::ToJson(const Options& o) const {
  nlohmann::json j;
  j["target"] = o.target;
  j["method"] = o.method;
  j["transport"] = o.plaintext ? "plaintext" : (o.tls.cert_file.empty() ? "tls" : "mtls");
  j["connections"] = o.new_connection_per_call ? -1 : o.connections;
  j["new_connection_per_call"] = o.new_connection_per_call;
  j["tls_resumption"] = o.tls_resumption;
  j["concurrency"] = o.concurrency;
  j["threads"] = threads;
  j["rate"] = o.rate;
  j["warmup_s"] = absl::ToDoubleSeconds(o.warmup);
  j["window_s"] = absl::ToDoubleSeconds(window);
  j["calls"] = calls;
  j["ok"] = ok;
  j["errors"] = calls - ok;
  nlohmann::json codes = nlohmann::json::object();
  for (int c = 1; c < 17; ++c) {
    if (by_code[c] > 0) codes[StatusCodeName(c)] = by_code[c];
  }
  j["errors_by_code"] = codes;
  j["qps"] = qps;
  auto ms = [this](double p) { return static_cast<double>(latency_ns.ValueAtPercentile(p)) / 1e6; };
  j["latency_ms"] = {{"min", static_cast<double>(latency_ns.min()) / 1e6},
                     {"mean", latency_ns.mean() / 1e6},
                     {"p50", ms(50)},
                     {"p90", ms(90)},
                     {"p99", ms(99)},
                     {"p99_9", ms(99.9)},
                     {"max", static_cast<double>(latency_ns.max()) / 1e6}};
  if (paced) {
    auto lag = [this](double p) {
      return static_cast<double>(start_lag_ns.ValueAtPercentile(p)) / 1e6;
    };
    j["start_lag_ms"] = {{"mean", start_lag_ns.mean() / 1e6},
                         {"p50", lag(50)},
                         {"p90", lag(90)},
                         {"p99", lag(99)},
                         {"p99_9", lag(99.9)},
                         {"max", static_cast<double>(start_lag_ns.max()) / 1e6}};
    j["owed_calls"] = owed_calls;
  }
  if (o.tls_resumption) j["resumed_sessions"] = resumed_sessions;
  return j.dump();
}

std::string Result::ToText() const {
  auto ms = [this](double p) { return static_cast<double>(latency_ns.ValueAtPercentile(p)) / 1e6; };
  std::string out = absl::StrFormat(
      "window    %.2f s, %d threads\n"
      "calls     %d (ok %d, errors %d)\n"
      "qps       %.1f\n"
      "latency   min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n",
      absl::ToDoubleSeconds(window), threads, calls, ok, calls - ok, qps,
      static_cast<double>(latency_ns.min()) / 1e6, latency_ns.mean() / 1e6, ms(50), ms(90), ms(99),
      ms(99.9), static_cast<double>(latency_ns.max()) / 1e6);
  if (paced) {
    auto lag = [this](double p) {
      return static_cast<double>(start_lag_ns.ValueAtPercentile(p)) / 1e6;
    };
    absl::StrAppendFormat(&out,
                          "start lag mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f "
                          "ms (call start after its due time; included in latency)\n"
                          "owed      %d calls fell due with all --concurrency slots busy\n",
                          start_lag_ns.mean() / 1e6, lag(50), lag(90), lag(99), lag(99.9),
                          static_cast<double>(start_lag_ns.max()) / 1e6, owed_calls);
  }
  for (int c = 1; c < 17; ++c) {
    if (by_code[c] > 0)
      absl::StrAppendFormat(&out, "error     %s: %d\n", StatusCodeName(c), by_code[c]);
  }
  if (resumed_sessions > 0)
    absl::StrAppendFormat(&out, "resumed   %d TLS sessions\n", resumed_sessions);
  return out;
}

}  // namespace nodegate::loadgen
