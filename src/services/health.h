// grpc.health.v1.Health, served as rpc::MethodTable handlers instead of gRPC's built-in health
// service: a service registered with the ServerBuilder would bypass the Authorizer that the
// server core runs at dispatch (auth/policy.cc makes this service public, by rule, not by
// bypass). The answers follow gRPC's DefaultHealthCheckService: Check of an unknown service is
// NOT_FOUND, Watch of one streams SERVICE_UNKNOWN and does not fail.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.pb.h"
#include "rpc/method_table.h"

namespace nodegate::services {

// The node's serving status, held in memory and thread-safe. One node-wide switch drives every
// service: the node serves all of its services or none of them.
class HealthService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // `services`: the full names of the services the node serves ("nodegate.v1.KeyValue"); the
  // empty name, the node as a whole, is always known. Everything is NOT_SERVING until
  // SetServing(true).
  explicit HealthService(std::vector<std::string> services);

  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // The node-wide switch: true once the node accepts calls, false when it starts to drain.
  // Watchers hear of every change. Ignored after Shutdown().
  void SetServing(bool serving);

  // For good: NOT_SERVING, sent to every watcher, whose streams are then finished OK. A Watch that
  // arrives later gets the status (NOT_SERVING, or SERVICE_UNKNOWN) and is finished at once.
  void Shutdown();

  // Adds /grpc.health.v1.Health/Check and /grpc.health.v1.Health/Watch. `this` must outlive the
  // table's use.
  void Register(rpc::MethodTable& table);

  // What Check would answer for `service` (SERVICE_UNKNOWN when it is not known).
  ServingStatus Status(std::string_view service) const;

 private:
  absl::Status Check(const grpc::health::v1::HealthCheckRequest& request,
                     grpc::health::v1::HealthCheckResponse* response) const;
  absl::Status Watch(const grpc::ByteBuffer& request, const std::shared_ptr<rpc::Stream>& stream);

  // Writes the new status to every live watcher of a known service; forgets ended calls.
  void NotifyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropEndedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::flat_hash_set<std::string> services_;
  // Read without the lock by Check (a probe's hot path); written only under mu_, so that a watcher
  // registered under mu_ sees every change after the status it was first sent.
  std::atomic<bool> serving_{false};

  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Keyed by the stream itself: one Watch request per call. The value is the watched service.
  absl::flat_hash_map<std::shared_ptr<rpc::Stream>, std::string> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nodegate::services
