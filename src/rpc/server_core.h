// What both engines under rpc::Server share (server.h): the options, the method table, the
// Authorizer, the observers, the workers for blocking handlers, the node-wide bounds and their
// counters. An engine (gRPC's completion queues in server.cc, our HTTP/2 one in h2_engine.cc)
// takes calls off the wire; everything a call is checked against or recorded in lives here, once.
// Internal to nodegate_rpc.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "auth/authorizer.h"
#include "observe/access_log.h"
#include "observe/metrics.h"
#include "rpc/method_table.h"
#include "rpc/server.h"
#include "rpc/token_bucket.h"

namespace nodegate::rpc::internal {

// Runs Execution::kBlocking handlers, so that a store write waiting for fsync never holds up an
// engine's thread (and with it every other call it serves).
class WorkerPool {
 public:
  WorkerPool(int n, size_t max_queued);
  ~WorkerPool() { Stop(); }

  // False when `max_queued` jobs are already waiting: the caller answers the call itself
  // (RESOURCE_EXHAUSTED) instead of letting the queue, and its memory, grow without bound.
  // While stopping, the job runs on the caller's thread rather than being lost.
  bool Post(std::function<void()> job);
  // Runs every queued job, then joins the threads. Idempotent.
  void Stop();

 private:
  void Run();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

// The CPUs this process may run on (sched_getaffinity: taskset and CPUAffinity count).
int AllowedCpus();

// gRPC's core refuses a batch with an illegal header, and gRPC C++ aborts the process on that
// refusal; HTTP/2 cannot carry such a header either. So a handler's metadata is checked, and what
// cannot go out is dropped: keys of [0-9a-z_.-] not reserved by gRPC ("grpc-…"), and printable
// ASCII values unless the key ends in "-bin".
bool LegalResponseMetadata(std::string_view key, std::string_view value);

// What the access log and the metrics get for one finished call.
struct CallRecord {
  std::string_view method;
  int code = 0;
  double seconds = 0;
  std::string_view authority;
  std::string_view peer_address;  // "ipv4:127.0.0.1:5555"
  std::string_view user_agent;
  const tls::PeerIdentity* peer = nullptr;
  const auth::Decision* decision = nullptr;
  std::string_view shed_reason;  // why the core itself refused the call
};

struct Shared {
  ServerOptions options;
  std::shared_ptr<const MethodTable> methods;
  std::shared_ptr<auth::Authorizer> authorizer;
  observe::AccessLog* access_log = nullptr;  // null when off
  std::shared_ptr<observe::AccessLog> access_log_owner;
  std::shared_ptr<observe::Metrics> metrics;
  std::unique_ptr<WorkerPool> workers;

  std::atomic<int64_t> streams_open{0};
  std::atomic<uint64_t> refused_streams{0};
  std::atomic<uint64_t> refused_queue_full{0};
  std::atomic<uint64_t> skipped_expired{0};
  std::atomic<uint64_t> refused_anonymous_rate{0};
  // One bucket per served method, and one for every other name; built at start, then read-only.
  absl::flat_hash_map<std::string, std::unique_ptr<TokenBucket>> anonymous_buckets;
  std::unique_ptr<TokenBucket> anonymous_other;

  // Calls whose decision waits for a fleet's nonce ledger (Authorizer::AuthorizeOrDefer): each
  // resumes through an event on its engine thread, so the engine stays open until none is left.
  std::mutex deferred_mu;
  std::condition_variable deferred_cv;
  int64_t deferred = 0;           // guarded by deferred_mu
  bool deferrals_closed = false;  // guarded by deferred_mu: shutting down, decide synchronously
  bool BeginDeferral() {
    std::lock_guard<std::mutex> lock(deferred_mu);
    if (deferrals_closed) return false;
    ++deferred;
    return true;
  }
  void EndDeferral() {
    std::lock_guard<std::mutex> lock(deferred_mu);
    if (--deferred == 0) deferred_cv.notify_all();
  }
  // No call may defer from here on; waits until every deferred decision has resumed.
  void CloseDeferrals() {
    std::unique_lock<std::mutex> lock(deferred_mu);
    deferrals_closed = true;
    deferred_cv.wait(lock, [this] { return deferred == 0; });
  }

  // Fills everything above from Start()'s arguments (workers and buckets included).
  void Init(ServerOptions o, std::shared_ptr<const MethodTable> m,
            std::shared_ptr<auth::Authorizer> a, std::shared_ptr<observe::AccessLog> log,
            std::shared_ptr<observe::Metrics> metrics);

  // False when an anonymous call to `method` is over its rate (counted).
  bool AdmitAnonymous(const std::string& method);

  // The core's own admission after the Authorizer's decision: a call allowed without any
  // credential (public method, no verified client certificate) spends the method's anonymous
  // budget; over it the decision becomes RESOURCE_EXHAUSTED and `shed_reason` says why.
  bool Admit(const std::string& method, const tls::PeerIdentity& peer, auth::Decision* decision,
             std::string* shed_reason);

  // Records one finished call in the metrics and, when it is on, the access log.
  void Observe(const CallRecord& record);

  // Sums what every engine counts here into `stats` (connections are the engine's).
  void AddStats(ServerStats* stats) const;
};

}  // namespace nodegate::rpc::internal
