// Port leases for the PortService: which TCP port of a range a job holds, and until when.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nodegate::store {

// A lease is live while now < expires_at. An expired lease stays stored (Get and List show it)
// until ExpireBefore removes it or Acquire hands its port to another job.
struct PortLease {
  std::string job_code;
  std::string owner;  // the principal that took it ("node:a", "user:b"); empty for pre-v2 rows
  int port = 0;
  absl::Time acquired_at;
  absl::Time expires_at;
};

// Thread-safe, and safe across processes sharing one database: no two jobs ever hold a live
// lease on the same port.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;

  // A job's lease belongs to the principal that took it (`owner`, 1..256 bytes): while it is live,
  // another principal's Acquire or Release of the same job_code is PERMISSION_DENIED, so one
  // caller cannot take over or free another's port. An expired lease may be taken by anyone.
  //
  // If job_code (1..256 bytes) holds a live lease on a port in [port_lo, port_hi], renews it to
  // now + ttl and returns that port. Otherwise leases the lowest port in the range that no other
  // job holds a live lease on and for which is_bindable(port) returns true; a lease the job held
  // outside the range is dropped. is_bindable is called inside the store's write transaction, so
  // keep it short (e.g. one bind()). RESOURCE_EXHAUSTED when no port qualifies;
  // INVALID_ARGUMENT unless 1 <= port_lo <= port_hi <= 65535 and ttl > 0.
  virtual absl::StatusOr<int> Acquire(std::string_view job_code, std::string_view owner,
                                      int port_lo, int port_hi, absl::Duration ttl, absl::Time now,
                                      std::function<bool(int)> is_bindable) = 0;
  // NOT_FOUND if the job holds none; PERMISSION_DENIED if another principal's live lease.
  virtual absl::Status Release(std::string_view job_code, std::string_view owner,
                               absl::Time now) = 0;
  virtual absl::StatusOr<PortLease> Get(std::string_view job_code) = 0;  // NOT_FOUND if none
  virtual absl::StatusOr<std::vector<PortLease>> List() = 0;             // ordered by port
  // Removes leases with expires_at <= now; returns how many.
  virtual absl::StatusOr<int> ExpireBefore(absl::Time now) = 0;
};

}  // namespace nodegate::store
