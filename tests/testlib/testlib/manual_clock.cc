#include "testlib/manual_clock.h"

#include <gtest/gtest.h>

#include <iterator>

namespace nodegate::testlib {

ManualClock::ManualClock(absl::Time start)
    : start_(start),
      steady_start_(std::chrono::steady_clock::time_point() + std::chrono::hours(1)) {}

absl::Time ManualClock::Now() {
  absl::MutexLock lock(&mu_);
  return start_ + elapsed_;
}

std::chrono::steady_clock::time_point ManualClock::SteadyNow() {
  absl::MutexLock lock(&mu_);
  return steady_start_ + absl::ToChronoNanoseconds(elapsed_);
}

bool ManualClock::WaitForNotificationWithTimeout(absl::Notification& stop, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Duration deadline = elapsed_ + timeout;
  auto it = deadlines_.insert(deadline);
  ++waits_started_;
  auto due = [this, deadline]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return elapsed_ >= deadline; };
  while (!stop.HasBeenNotified() && !due()) {
    // A Notification cannot wake this mutex's waiters: look at `stop` again every few ms.
    mu_.AwaitWithTimeout(absl::Condition(&due), absl::Milliseconds(5));
  }
  deadlines_.erase(it);
  return stop.HasBeenNotified();
}

void ManualClock::Advance(absl::Duration d) {
  EXPECT_GE(d, absl::ZeroDuration()) << "a clock does not go back";
  absl::MutexLock lock(&mu_);
  elapsed_ += d;
}

void ManualClock::BlockUntilWaiting(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::distance(deadlines_.upper_bound(elapsed_), deadlines_.end()) >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

int ManualClock::waits_started() {
  absl::MutexLock lock(&mu_);
  return waits_started_;
}

}  // namespace nodegate::testlib
