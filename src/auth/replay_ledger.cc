#include "auth/replay_ledger.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace nodegate::auth {

absl::StatusOr<std::unique_ptr<ReplayLedger>> ReplayLedger::Open(store::NonceStore* nonces,
                                                                 Options options, absl::Time now) {
  if (nonces == nullptr) return absl::InvalidArgumentError("replay ledger: no nonce store");
  if (options.margin < absl::ZeroDuration() || options.lease < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("replay ledger: margin and lease must not be negative");
  }
  if (options.max_batch < 1 || options.max_batch > store::kMaxNonceBatch) {
    return absl::InvalidArgumentError(
        absl::StrCat("replay ledger: max_batch must be in 1..", store::kMaxNonceBatch));
  }
  if (options.shared) {
    // Every nonce is in the shared store until it expires: nothing to refuse by date, and no
    // lease (replicas would overwrite one another's).
    std::unique_ptr<ReplayLedger> ledger(new ReplayLedger(nonces, options, absl::InfinitePast()));
    ledger->alive_until_ms_.store(std::numeric_limits<int64_t>::max());
    ledger->writer_ = std::thread([raw = ledger.get()] { raw->BatchLoop(); });
    return ledger;
  }
  absl::StatusOr<absl::Time> previous = nonces->AliveUntil();
  if (!previous.ok()) {
    return absl::Status(
        previous.status().code(),
        absl::StrCat("auth: cannot read the signature lease: ", previous.status().message()));
  }
  const absl::Time floor =
      *previous == absl::InfinitePast() ? absl::InfinitePast() : *previous + options.margin;
  std::unique_ptr<ReplayLedger> ledger(new ReplayLedger(nonces, options, floor));
  if (absl::Status s = ledger->Renew(now); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("auth: cannot write the signature lease: ", s.message()));
  }
  if (options.lease > absl::ZeroDuration()) {
    ledger->renewer_ = std::thread([raw = ledger.get()] { raw->RenewLoop(); });
  }
  ledger->writer_ = std::thread([raw = ledger.get()] { raw->BatchLoop(); });
  return ledger;
}

ReplayLedger::~ReplayLedger() {
  {
    std::lock_guard<std::mutex> lock(batch_mu_);
    batch_stop_ = true;
  }
  batch_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (!renewer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  renewer_.join();
  // Nothing is accepted after this point (the node is shutting down): the next run's floor can
  // be now instead of the end of the lease.
  const absl::Time now = absl::Now();
  alive_until_ms_.store(absl::ToUnixMillis(now));
  nonces_->SetAliveUntil(now).IgnoreError();
}

void ReplayLedger::SpendAsync(store::NonceRecord record, absl::Time now, SpendDone done) {
  {
    std::lock_guard<std::mutex> lock(batch_mu_);
    if (!batch_stop_) {
      queue_.push_back(Pending{std::move(record), std::move(done)});
      queue_now_ = std::max(queue_now_, now);
      batch_cv_.notify_one();
      return;
    }
  }
  done(absl::UnavailableError("replay ledger: stopping"));
}

absl::Status ReplayLedger::Spend(store::NonceRecord record, absl::Time now) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::Status> result;
  SpendAsync(std::move(record), now, [&](absl::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    result = std::move(s);
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });
  return *std::move(result);
}

ReplayLedger::Stats ReplayLedger::stats() const {
  Stats s;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    s = stats_;
  }
  std::lock_guard<std::mutex> lock(batch_mu_);
  s.waiting = queue_.size();
  return s;
}

// The group commit: whatever queued while the previous batch was being written goes out as the
// next one, so a lone call waits for one transaction and a busy node shares each among many.
void ReplayLedger::BatchLoop() {
  std::unique_lock<std::mutex> lock(batch_mu_);
  while (true) {
    batch_cv_.wait(lock, [this] { return batch_stop_ || !queue_.empty(); });
    if (batch_stop_) break;
    std::vector<Pending> batch;
    while (!queue_.empty() && batch.size() < options_.max_batch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    const absl::Time now = queue_now_;
    lock.unlock();
    std::vector<store::NonceRecord> records;
    records.reserve(batch.size());
    for (const Pending& p : batch) records.push_back(p.record);
    absl::StatusOr<std::vector<bool>> fresh = nonces_->RecordBatch(records, now);
    {
      std::lock_guard<std::mutex> counted(stats_mu_);
      ++stats_.batches;
      stats_.records += batch.size();
      if (!fresh.ok()) ++stats_.failures;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!fresh.ok()) {
        // A Status of its own for each caller, not a copy sharing this one's heap rep: the
        // callers read it on their threads while this thread drops `fresh`, and the shared rep's
        // refcount lives in Debian's uninstrumented libabsl_status, where TSan cannot see it
        // order the last reader before the free (it reported that hand-off as a race).
        batch[i].done(absl::Status(fresh.status().code(), fresh.status().message()));
      } else if (!(*fresh)[i]) {
        batch[i].done(absl::AlreadyExistsError("nonce already recorded"));
      } else {
        batch[i].done(absl::OkStatus());
      }
    }
    lock.lock();
  }
  // Stopping: nobody will write what is still queued.
  std::deque<Pending> left = std::move(queue_);
  queue_.clear();
  lock.unlock();
  for (Pending& p : left) p.done(absl::UnavailableError("replay ledger: stopping"));
}

bool ReplayLedger::Covers(absl::Time now) const {
  return absl::ToUnixMillis(now) < alive_until_ms_.load(std::memory_order_acquire);
}

absl::Status ReplayLedger::Renew(absl::Time now) {
  const absl::Time until = now + options_.lease;
  // Durable first: the lease in memory never runs ahead of the one on disk.
  if (absl::Status s = nonces_->SetAliveUntil(until); !s.ok()) return s;
  alive_until_ms_.store(absl::ToUnixMillis(until), std::memory_order_release);
  return absl::OkStatus();
}

void ReplayLedger::RenewLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.lease / 3),
                            [this] { return stop_; })) {
    lock.unlock();
    if (absl::Status s = Renew(absl::Now()); !s.ok()) {
      spdlog::error("signature lease not renewed (signed calls fail until it is): {}",
                    std::string(s.message()));
    }
    lock.lock();
  }
}

}  // namespace nodegate::auth
