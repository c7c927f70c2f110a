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
  changed_.SignalAll();
  while (!stop.HasBeenNotified() && elapsed_ < deadline) {
    // A Notification cannot signal this CondVar: look at `stop` again every few ms.
    changed_.WaitWithTimeout(&mu_, absl::Milliseconds(5));
  }
  deadlines_.erase(it);
  changed_.SignalAll();
  return stop.HasBeenNotified();
}

void ManualClock::Advance(absl::Duration d) {
  EXPECT_GE(d, absl::ZeroDuration()) << "a clock does not go back";
  absl::MutexLock lock(&mu_);
  elapsed_ += d;
  changed_.SignalAll();
}

void ManualClock::BlockUntilWaiting(int n) {
  absl::MutexLock lock(&mu_);
  while (std::distance(deadlines_.upper_bound(elapsed_), deadlines_.end()) < n) changed_.Wait(&mu_);
}

int ManualClock::waits_started() {
  absl::MutexLock lock(&mu_);
  return waits_started_;
}

}  // namespace nodegate::testlib
