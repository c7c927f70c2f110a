// The durable part of signature replay protection: nonces of accepted signed calls, kept until
// their signature can no longer be accepted. A single node records the calls signed ahead of its
// clock and loads them back into its in-memory replay cache at start, so that a call accepted
// before a restart cannot be accepted again after it; a fleet's replicas record every nonce in
// their one shared database, so that a call accepted by one replica is refused by all
// (docs/auth.md, "Replays across a restart" and "Replays across replicas").
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

// Most records one RecordBatch takes.
inline constexpr size_t kMaxNonceBatch = 1000;

// Thread-safe, and safe across processes sharing one database.
class NonceStore {
 public:
  virtual ~NonceStore() = default;
  // Stores every record of `records` whose (node_id, nonce) is not stored yet, durably and in
  // one transaction, and drops records that expired by `now`. Element i of the result is true
  // when records[i] was new (its call may be accepted) and false when (node_id, nonce) was
  // already stored and not expired, or came earlier in `records`. Any error: nothing is known
  // about any record (the caller must not accept their calls).
  virtual absl::StatusOr<std::vector<bool>> RecordBatch(const std::vector<NonceRecord>& records,
                                                        absl::Time now) = 0;
  // RecordBatch of one record: OK when new, ALREADY_EXISTS when (node_id, nonce) is stored.
  absl::Status Record(const NonceRecord& record, absl::Time now);
  // Every record with expires_at > now.
  virtual absl::StatusOr<std::vector<NonceRecord>> Live(absl::Time now) = 0;

  // The lease of the node's signed calls: the time up to which a run of the node may have
  // accepted them (InfinitePast when no run ever set it). Set durably.
  virtual absl::StatusOr<absl::Time> AliveUntil() = 0;
  virtual absl::Status SetAliveUntil(absl::Time until) = 0;
};

}  // namespace nodegate::store
