#include "auth/credential_cache.h"

#include "absl/strings/str_cat.h"
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
    std::shared_ptr<CredentialSource> source, absl::Duration poll, base::Clock& clock,
    absl::Duration max_age) {
  if (max_age <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("auth.credential_max_age: must be positive");
  }
  std::unique_ptr<CredentialCache> cache(new CredentialCache(std::move(source), clock, max_age));
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

int64_t CredentialCache::SteadyNanos() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.SteadyNow().time_since_epoch())
      .count();
}

absl::Duration CredentialCache::age() const {
  return absl::Nanoseconds(SteadyNanos() - confirmed_at_.load(std::memory_order_acquire));
}

absl::Status CredentialCache::CheckFresh() const {
  if (max_age_ == absl::InfiniteDuration()) return absl::OkStatus();
  const absl::Duration a = age();
  if (a <= max_age_) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "credentials: snapshot is ", absl::FormatDuration(absl::Trunc(a, absl::Seconds(1))),
      " old, over auth.credential_max_age (", absl::FormatDuration(max_age_),
      "): the credential store cannot be read; retry later"));
}

absl::Status CredentialCache::Refresh(bool force) {
  std::lock_guard<std::mutex> lock(refresh_mu_);
  // Taken before the source is read: the snapshot is known current as of this instant at best.
  const int64_t observed = SteadyNanos();
  // Read the generation before loading: a write racing with Load() moves it again, and the next
  // poll reloads.
  absl::StatusOr<uint64_t> gen = source_->Generation();
  if (!gen.ok()) {
    refresh_failures_.fetch_add(1, std::memory_order_relaxed);
    return gen.status();
  }
  if (!force && *gen == generation_ && version_.load() != 0) {
    confirmed_at_.store(observed, std::memory_order_release);
    return absl::OkStatus();
  }
  absl::StatusOr<CredentialSnapshot> loaded = source_->Load();
  if (!loaded.ok()) {
    refresh_failures_.fetch_add(1, std::memory_order_relaxed);
    return loaded.status();
  }
  auto fresh = std::make_shared<const CredentialSnapshot>(*std::move(loaded));
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    snapshot_ = std::move(fresh);
    version_.store(g_next_version.fetch_add(1), std::memory_order_release);
  }
  generation_ = *gen;
  loaded_generation_.store(*gen, std::memory_order_release);
  confirmed_at_.store(observed, std::memory_order_release);
  return absl::OkStatus();
}

void CredentialCache::Run(absl::Duration poll) {
  uint64_t failed_in_a_row = 0;
  while (!clock_.WaitForNotificationWithTimeout(stop_, poll)) {
    absl::Status s = Refresh();
    if (s.ok()) {
      if (failed_in_a_row > 0) {
        spdlog::warn("credentials: store readable again after {} failed refreshes",
                     failed_in_a_row);
      }
      failed_in_a_row = 0;
      continue;
    }
    // Keep serving the last good snapshot (up to max_age); say why the new one could not be read.
    // The first failure and then every power of two: visible, but no line per poll while the
    // database is down.
    ++failed_in_a_row;
    if ((failed_in_a_row & (failed_in_a_row - 1)) == 0) {
      spdlog::error(
          "credentials: refresh failed ({} in a row), keeping the previous set, now {} old "
          "(bound {}): {}",
          failed_in_a_row, absl::FormatDuration(absl::Trunc(age(), absl::Milliseconds(1))),
          absl::FormatDuration(max_age_), std::string(s.message()));
    }
  }
}

}  // namespace nodegate::auth
