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
  for (auto it = shard.entries.begin(); it != shard.entries.end();) {
    if (it->second.expiry_ms <= now_ms) {
      shard.entries.erase(it++);
      ++removed;
    } else {
      ++it;
    }
  }
  size_.fetch_sub(removed, std::memory_order_relaxed);
  return removed;
}

namespace {

std::string Key(std::string_view node_id, std::string_view nonce) {
  std::string key;
  key.reserve(node_id.size() + 1 + nonce.size());
  key.append(node_id).push_back('\n');  // '\n' cannot occur in a node id or a base64url nonce
  key.append(nonce);
  return key;
}

}  // namespace

bool ReplayCache::Verified(std::string_view node_id, std::string_view nonce,
                           std::string_view signature_digest, absl::Time now) {
  std::string key = Key(node_id, nonce);
  Shard& shard = shards_[absl::Hash<std::string>{}(key) % kShards];
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(key);
  return it != shard.entries.end() && it->second.expiry_ms > absl::ToUnixMillis(now) &&
         it->second.signature_digest == signature_digest;
}

absl::Status ReplayCache::CheckAndInsert(std::string_view node_id, std::string_view nonce,
                                         std::string_view signature_digest, absl::Time expires_at,
                                         absl::Time now) {
  std::string key = Key(node_id, nonce);
  Shard& shard = shards_[absl::Hash<std::string>{}(key) % kShards];
  const int64_t now_ms = absl::ToUnixMillis(now);
  const int64_t exp_ms = absl::ToUnixMillis(expires_at);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(key);
  if (it != shard.entries.end()) {
    if (it->second.expiry_ms > now_ms) return absl::AlreadyExistsError("nonce already used");
    // An expired entry: its timestamp is outside the window anyway.
    it->second = Shard::Entry{exp_ms, std::string(signature_digest)};
    return absl::OkStatus();
  }
  // Sweep lazily: when full, and otherwise at most once a second per shard.
  if (shard.entries.size() >= shard_capacity_ || now_ms >= shard.next_sweep_ms) {
    SweepLocked(shard, now_ms);
    shard.next_sweep_ms = now_ms + 1000;
  }
  if (shard.entries.size() >= shard_capacity_) {
    return absl::ResourceExhaustedError("replay cache full");
  }
  shard.entries.emplace(std::move(key), Shard::Entry{exp_ms, std::string(signature_digest)});
  size_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

}  // namespace nodegate::auth
