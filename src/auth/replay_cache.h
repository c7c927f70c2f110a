// Remembers (node id, nonce) pairs until their signature's timestamp leaves the allowed window, so
// that a signed call cannot be replayed. Memory is bounded: when the cache is full of unexpired
// entries it refuses new ones (fails closed) instead of forgetting old ones, which would reopen
// the replay window. Sharded so that concurrent calls rarely contend on one lock.
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
  // RESOURCE_EXHAUSTED: full of unexpired entries (fail closed).
  // `signature_digest` identifies the verified signature that spent the nonce (see Verified()).
  absl::Status CheckAndInsert(std::string_view node_id, std::string_view nonce,
                              std::string_view signature_digest, absl::Time expires_at,
                              absl::Time now);

  // True when exactly this (node id, nonce, signature digest) was accepted by CheckAndInsert and
  // has not expired: lets code that runs after the auth hook (handlers, access log) trust a
  // signature the hook verified — and only that one.
  bool Verified(std::string_view node_id, std::string_view nonce,
                std::string_view signature_digest, absl::Time now);

  size_t size() const { return size_.load(std::memory_order_relaxed); }
  size_t capacity() const { return capacity_; }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    absl::Mutex mu;
    struct Entry {
      int64_t expiry_ms;
      std::string signature_digest;
    };
    absl::flat_hash_map<std::string, Entry> entries ABSL_GUARDED_BY(mu);
    int64_t next_sweep_ms ABSL_GUARDED_BY(mu) = 0;
  };
  explicit ReplayCache(size_t capacity);
  size_t SweepLocked(Shard& shard, int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const size_t capacity_;
  const size_t shard_capacity_;
  std::atomic<size_t> size_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace nodegate::auth
