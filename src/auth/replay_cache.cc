#include "auth/replay_cache.h"

#include <algorithm>

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

namespace {

std::string Key(std::string_view node_id, std::string_view nonce) {
  std::string key;
  key.reserve(node_id.size() + 1 + nonce.size());
  key.append(node_id).push_back('\n');  // '\n' cannot occur in a node id or a base64url nonce
  key.append(nonce);
  return key;
}

std::string_view NodeOf(std::string_view key) { return key.substr(0, key.find('\n')); }

// absl's heterogeneous lookup and hashing take absl::string_view, which this Abseil build does not
// alias to std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

ReplayCache::NodeShard& ReplayCache::NodeShardFor(std::string_view node_id) const {
  return node_shards_[absl::Hash<absl::string_view>{}(Absl(node_id)) % kShards];
}

void ReplayCache::Release(std::string_view node_id, size_t n) {
  NodeShard& ns = NodeShardFor(node_id);
  absl::MutexLock lock(&ns.mu);
  auto it = ns.held.find(Absl(node_id));
  if (it == ns.held.end()) return;
  if (it->second <= n) {
    ns.held.erase(it);
  } else {
    it->second -= n;
  }
}

size_t ReplayCache::held_by(std::string_view node_id) const {
  NodeShard& ns = NodeShardFor(node_id);
  absl::MutexLock lock(&ns.mu);
  auto it = ns.held.find(Absl(node_id));
  return it == ns.held.end() ? 0 : it->second;
}

size_t ReplayCache::SweepLocked(Shard& shard, int64_t now_ms) {
  size_t removed = 0;
  // Runs of one node's entries are common (a busy node): release them in one lock each.
  std::string run_node;
  size_t run = 0;
  for (auto it = shard.entries.begin(); it != shard.entries.end();) {
    if (it->second <= now_ms) {
      std::string_view node = NodeOf(it->first);
      if (node != run_node) {
        if (run > 0) Release(run_node, run);
        run_node.assign(node);
        run = 0;
      }
      ++run;
      shard.entries.erase(it++);
      ++removed;
    } else {
      ++it;
    }
  }
  if (run > 0) Release(run_node, run);
  size_.fetch_sub(removed, std::memory_order_relaxed);
  return removed;
}

absl::Status ReplayCache::CheckAndInsert(std::string_view node_id, std::string_view nonce,
                                         absl::Time expires_at, absl::Time now, size_t node_share) {
  std::string key = Key(node_id, nonce);
  Shard& shard = shards_[absl::Hash<std::string>{}(key) % kShards];
  const int64_t now_ms = absl::ToUnixMillis(now);
  const int64_t exp_ms = absl::ToUnixMillis(expires_at);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(key);
  if (it != shard.entries.end()) {
    if (it->second > now_ms) return absl::AlreadyExistsError("nonce already used");
    // An expired entry: its timestamp is outside the window anyway.
    it->second = exp_ms;
    return absl::OkStatus();
  }
  // Sweep lazily: when full, and otherwise at most once a second per shard.
  if (shard.entries.size() >= shard_capacity_ || now_ms >= shard.next_sweep_ms) {
    SweepLocked(shard, now_ms);
    shard.next_sweep_ms = now_ms + 1000;
  }
  NodeShard& ns = NodeShardFor(node_id);
  absl::MutexLock node_lock(&ns.mu);
  auto held = ns.held.find(Absl(node_id));
  const size_t count = held == ns.held.end() ? 0 : held->second;
  // Within its share a node may use the reserve above the pool, so that it is admitted however
  // full others have made the pool. The reserve is counted over the whole cache, not per shard:
  // a node's entries land in shards at random, and a full shard must not cost it its share. Shares
  // add up to the capacity, so only a shrinking node count can reach the hard bound.
  const bool within_share = count < std::min(node_share, capacity_);
  const bool full = within_share ? size_.load(std::memory_order_relaxed) >= 2 * capacity_
                                 : shard.entries.size() >= shard_capacity_;
  if (full) {
    return absl::ResourceExhaustedError(
        within_share ? "replay cache full" : "replay cache full (this node is over its share)");
  }
  shard.entries.emplace(std::move(key), exp_ms);
  if (held == ns.held.end()) {
    ns.held.emplace(std::string(node_id), 1);
  } else {
    ++held->second;
  }
  size_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

}  // namespace nodegate::auth
