// Remembers (node id, nonce) pairs until their signature's timestamp leaves the allowed window, so
// that a signed call cannot be replayed. Memory is bounded: when the cache is full of unexpired
// entries it refuses new ones (fails closed) instead of forgetting old ones, which would reopen
// the replay window. Sharded so that concurrent calls rarely contend on one lock.
//
// Fair shares: `capacity` entries are a pool that any node may fill, and on top of it each node
// is always admitted up to its share (`node_share`, e.g. capacity / number of nodes), so one node
// that fills the pool locks out nobody but itself. Shares add up to at most the capacity again:
// the cache never holds more than 2 × capacity entries (+ one per shard, the pool's rounding).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace nodegate::auth {

class ReplayCache {
 public:
  // `capacity` > 0 entries in total.
  static absl::StatusOr<std::unique_ptr<ReplayCache>> New(size_t capacity);

  // OK: first sighting, remembered until `expires_at`.
  // ALREADY_EXISTS: seen before and not yet expired (a replay).
  // RESOURCE_EXHAUSTED: the pool is full of unexpired entries and `node_id` holds at least
  // `node_share` of them (fail closed); 0 reserves nothing, a share above the capacity counts as
  // the capacity.
  absl::Status CheckAndInsert(std::string_view node_id, std::string_view nonce,
                              absl::Time expires_at, absl::Time now, size_t node_share = 0);

  // Unexpired-or-not-yet-swept entries held by `node_id`.
  size_t held_by(std::string_view node_id) const;

  size_t size() const { return size_.load(std::memory_order_relaxed); }
  size_t capacity() const { return capacity_; }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    absl::Mutex mu;
    // (node id, nonce) → expiry, Unix milliseconds.
    absl::flat_hash_map<std::string, int64_t> entries ABSL_GUARDED_BY(mu);
    int64_t next_sweep_ms ABSL_GUARDED_BY(mu) = 0;
  };
  // Entries per node id, sharded by node id. Lock order: an entry shard's mu, then this mu.
  struct NodeShard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, size_t> held ABSL_GUARDED_BY(mu);
  };
  explicit ReplayCache(size_t capacity);
  size_t SweepLocked(Shard& shard, int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  NodeShard& NodeShardFor(std::string_view node_id) const;
  void Release(std::string_view node_id, size_t n);

  const size_t capacity_;
  const size_t shard_capacity_;
  std::atomic<size_t> size_{0};
  std::array<Shard, kShards> shards_;
  mutable std::array<NodeShard, kShards> node_shards_;
};

}  // namespace nodegate::auth
