#include "auth/replay_cache.h"

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace nodegate::auth {

absl::StatusOr<std::unique_ptr<ReplayCache>> ReplayCache::New(size_t capacity) {
  if (capacity == 0) {
    return absl::InvalidArgumentError("auth.signature.replay_cache_capacity: must be > 0");
  }
  return std::unique_ptr<ReplayCache>(new ReplayCache(capacity));
}

ReplayCache::ReplayCache(size_t capacity)
    : capacity_(capacity), shard_capacity_((capacity + kShards - 1) / kShards) {}

size_t ReplayCache::SweepLocked(Shard& shard, int64_t now_ms) {
  size_t removed = 0;
  for (auto it = shard.expiry_ms.begin(); it != shard.expiry_ms.end();) {
    if (it->second <= now_ms) {
      shard.expiry_ms.erase(it++);
      ++removed;
    } else {
      ++it;
    }
  }
  size_.fetch_sub(removed, std::memory_order_relaxed);
  return removed;
}

absl::Status ReplayCache::CheckAndInsert(std::string_view node_id, std::string_view nonce,
                                         absl::Time expires_at, absl::Time now) {
  std::string key;
  key.reserve(node_id.size() + 1 + nonce.size());
  key.append(node_id).push_back('\n');  // '\n' cannot occur in a node id or a base64url nonce
  key.append(nonce);
  Shard& shard = shards_[absl::Hash<std::string>{}(key) % kShards];
  const int64_t now_ms = absl::ToUnixMillis(now);
  const int64_t exp_ms = absl::ToUnixMillis(expires_at);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.expiry_ms.find(key);
  if (it != shard.expiry_ms.end()) {
    if (it->second > now_ms) return absl::AlreadyExistsError("nonce already used");
    it->second = exp_ms;  // an expired entry: its timestamp is outside the window anyway
    return absl::OkStatus();
  }
  // Sweep lazily: when full, and otherwise at most once a second per shard.
  if (shard.expiry_ms.size() >= shard_capacity_ || now_ms >= shard.next_sweep_ms) {
    SweepLocked(shard, now_ms);
    shard.next_sweep_ms = now_ms + 1000;
  }
  if (shard.expiry_ms.size() >= shard_capacity_) {
    return absl::ResourceExhaustedError("replay cache full");
  }
  shard.expiry_ms.emplace(std::move(key), exp_ms);
  size_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

}  // namespace nodegate::auth
