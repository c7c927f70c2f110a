#include "auth/credential_cache.h"

#include "spdlog/spdlog.h"

namespace nodegate::auth {
namespace {

std::atomic<uint64_t> g_next_version{1};

struct ThreadCopy {
  uint64_t version = 0;
  std::shared_ptr<const CredentialSnapshot> snapshot;
};

}  // namespace

std::shared_ptr<const CredentialSnapshot> CredentialCache::snapshot() const {
  thread_local ThreadCopy copy;
  const uint64_t current = version_.load(std::memory_order_acquire);
  if (copy.version != current || copy.snapshot == nullptr) {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    copy.snapshot = snapshot_;
    copy.version = version_.load(std::memory_order_relaxed);
  }
  return copy.snapshot;
}

absl::StatusOr<std::unique_ptr<CredentialCache>> CredentialCache::Start(
    std::shared_ptr<CredentialSource> source, absl::Duration poll, base::Clock& clock) {
  std::unique_ptr<CredentialCache> cache(new CredentialCache(std::move(source), clock));
  if (absl::Status s = cache->Refresh(/*force=*/true); !s.ok()) return s;
  if (poll > absl::ZeroDuration()) {
    cache->thread_ = std::thread([raw = cache.get(), poll] { raw->Run(poll); });
  }
  return cache;
}

CredentialCache::~CredentialCache() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::Status CredentialCache::Refresh(bool force) {
  std::lock_guard<std::mutex> lock(refresh_mu_);
  // Read the generation before loading: a write racing with Load() moves it again, and the next
  // poll reloads.
  uint64_t gen = source_->Generation();
  if (!force && gen == generation_ && version_.load() != 0) return absl::OkStatus();
  absl::StatusOr<CredentialSnapshot> loaded = source_->Load();
  if (!loaded.ok()) return loaded.status();
  auto fresh = std::make_shared<const CredentialSnapshot>(*std::move(loaded));
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    snapshot_ = std::move(fresh);
    version_.store(g_next_version.fetch_add(1), std::memory_order_release);
  }
  generation_ = gen;
  return absl::OkStatus();
}

void CredentialCache::Run(absl::Duration poll) {
  while (!clock_.WaitForNotificationWithTimeout(stop_, poll)) {
    if (absl::Status s = Refresh(); !s.ok()) {
      // Keep serving the last good snapshot; say why the new one could not be read.
      spdlog::error("credentials: reload failed, keeping the previous set: {}",
                    std::string(s.message()));
    }
  }
}

}  // namespace nodegate::auth
