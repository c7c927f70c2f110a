// A real NonceStore with two faults a test can switch on: `down` makes every batch fail as an
// unreachable database does, and `hold` keeps the writer inside its next batch until released,
// so that calls pile up behind it (or wait in it while the test does something else).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "store/nonce_store.h"

namespace nodegate::testlib {

class FaultyNonceStore final : public store::NonceStore {
 public:
  explicit FaultyNonceStore(std::unique_ptr<store::NonceStore> real) : real_(std::move(real)) {}

  absl::StatusOr<std::vector<bool>> RecordBatch(const std::vector<store::NonceRecord>& records,
                                                absl::Time now) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      batch_sizes_.push_back(records.size());
      changed_.notify_all();
      changed_.wait(lock, [this] { return !hold_; });
      if (down_) return absl::UnavailableError("store: postgres: connection refused");
    }
    return real_->RecordBatch(records, now);
  }
  absl::StatusOr<std::vector<store::NonceRecord>> Live(absl::Time now) override {
    return real_->Live(now);
  }
  absl::StatusOr<absl::Time> AliveUntil() override { return real_->AliveUntil(); }
  absl::Status SetAliveUntil(absl::Time until) override { return real_->SetAliveUntil(until); }

  void SetDown(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  void SetHold(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
    changed_.notify_all();
  }
  // Waits until the writer is inside batch number `n` (1-based).
  void AwaitBatch(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [this, n] { return batch_sizes_.size() >= n; });
  }
  std::vector<size_t> batch_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }

 private:
  std::unique_ptr<store::NonceStore> real_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool down_ = false;
  bool hold_ = false;
  std::vector<size_t> batch_sizes_;
};

}  // namespace nodegate::testlib
