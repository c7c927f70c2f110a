#include "rpc/server_core.h"

#include <sched.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace nodegate::rpc::internal {

WorkerPool::WorkerPool(int n, size_t max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Run(); });
}

bool WorkerPool::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopped_) {
      if (jobs_.size() >= max_queued_) return false;
      jobs_.push_back(std::move(job));
      wake_.notify_one();
      return true;
    }
  }
  job();  // stopping: run it here rather than lose the call
  return true;
}

void WorkerPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopped_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

int AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

bool LegalResponseMetadata(std::string_view key, std::string_view value) {
  if (key.empty() || key.substr(0, 5) == "grpc-") return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  if (key.size() >= 4 && key.substr(key.size() - 4) == "-bin") return true;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

void Shared::Init(ServerOptions o, std::shared_ptr<const MethodTable> m,
                  std::shared_ptr<auth::Authorizer> a, std::shared_ptr<observe::AccessLog> log,
                  std::shared_ptr<observe::Metrics> metrics_in) {
  options = std::move(o);
  methods = std::move(m);
  authorizer = std::move(a);
  access_log_owner = std::move(log);
  if (access_log_owner && access_log_owner->enabled()) access_log = access_log_owner.get();
  metrics = std::move(metrics_in);
  if (const double rate = options.anonymous_rate; rate > 0) {
    for (const std::string& name : methods->Names()) {
      anonymous_buckets.emplace(name, std::make_unique<TokenBucket>(rate, 2 * rate));
    }
    anonymous_other = std::make_unique<TokenBucket>(rate, 2 * rate);
  }
  workers =
      std::make_unique<WorkerPool>(std::max(1, options.blocking_threads),
                                   static_cast<size_t>(std::max(1, options.max_queued_blocking)));
}

bool Shared::AdmitAnonymous(const std::string& method) {
  if (anonymous_other == nullptr) return true;
  auto it = anonymous_buckets.find(method);
  TokenBucket& bucket = it != anonymous_buckets.end() ? *it->second : *anonymous_other;
  if (bucket.Take(absl::Now())) return true;
  refused_anonymous_rate.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool Shared::Admit(const std::string& method, const tls::PeerIdentity& peer,
                   auth::Decision* decision, std::string* shed_reason) {
  // Anonymous: a public method's rule evaluates no credential, so only a verified client
  // certificate (identity at the transport) exempts a caller from the public-method budget.
  if (decision->status.ok() && !decision->principal.authenticated() && !peer.authenticated &&
      !AdmitAnonymous(method)) {
    decision->status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                    "rate limited: too many calls without credentials");
    *shed_reason = "anonymous_rate: over grpc.anonymous_rate for this method";
  }
  return decision->status.ok();
}

void Shared::Observe(const CallRecord& record) {
  if (metrics) metrics->RecordCall(record.method, record.code, record.seconds);
  if (access_log == nullptr) return;
  observe::AccessRecord r;
  r.time = absl::Now();
  r.authority = record.authority;
  r.peer = record.peer_address;
  r.method = record.method;
  r.code = record.code;
  r.duration_ms = record.seconds * 1000.0;
  r.user_agent = record.user_agent;
  if (record.peer != nullptr) r.client_cn = record.peer->common_name;
  if (record.decision != nullptr) {
    r.principal = record.decision->principal.ToString();
    if (record.decision->rejection != auth::Rejection::kCount) {
      r.reason = absl::StrCat(std::string(auth::RejectionName(record.decision->rejection)),
                              record.decision->detail.empty() ? "" : ": ", record.decision->detail);
    }
  }
  if (r.reason.empty() && !record.shed_reason.empty()) r.reason = record.shed_reason;
  access_log->Write(r);
}

void Shared::AddStats(ServerStats* s) const {
  s->streams_open = static_cast<uint64_t>(std::max<int64_t>(0, streams_open.load()));
  s->refused_streams = refused_streams.load(std::memory_order_relaxed);
  s->refused_queue_full = refused_queue_full.load(std::memory_order_relaxed);
  s->skipped_expired = skipped_expired.load(std::memory_order_relaxed);
  s->refused_anonymous_rate = refused_anonymous_rate.load(std::memory_order_relaxed);
}

}  // namespace nodegate::rpc::internal
