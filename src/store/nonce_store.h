// The durable part of signature replay protection: nonces of calls that were signed ahead of the
// node's clock, kept until their signature can no longer be accepted. The in-memory replay cache
// forgets everything on restart; these records are loaded back into it at start, so that a call
// accepted before a restart cannot be accepted again after it (docs/auth.md, "Replays across a
// restart").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nodegate::store {

struct NonceRecord {
  std::string node_id;
  std::string nonce;   // as sent (base64url)
  std::string digest;  // which signature spent it (bytes)
  absl::Time expires_at;
};

// Thread-safe, and safe across processes sharing one database.
class NonceStore {
 public:
  virtual ~NonceStore() = default;
  // Stores the record durably before returning OK, and drops records that expired by `now`.
  // ALREADY_EXISTS when (node_id, nonce) is stored and not expired.
  virtual absl::Status Record(const NonceRecord& record, absl::Time now) = 0;
  // Every record with expires_at > now.
  virtual absl::StatusOr<std::vector<NonceRecord>> Live(absl::Time now) = 0;

  // The lease of the node's signed calls: the time up to which a run of the node may have
  // accepted them (InfinitePast when no run ever set it). Set durably.
  virtual absl::StatusOr<absl::Time> AliveUntil() = 0;
  virtual absl::Status SetAliveUntil(absl::Time until) = 0;
};

}  // namespace nodegate::store
