// A base::Clock that moves only when the test says so. Waits end when Advance() reaches their
// deadline (or their stop is notified), so a test can step a background thread through its
// schedule: Advance, then BlockUntilWaiting until the thread is parked again, then assert.
#pragma once

#include <chrono>
#include <set>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/clock.h"

namespace nodegate::testlib {

class ManualClock final : public base::Clock {
 public:
  // Starts at `start` (wall) and at an arbitrary, fixed steady instant.
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1'767'225'600));

  absl::Time Now() override;
  std::chrono::steady_clock::time_point SteadyNow() override;
  bool WaitForNotificationWithTimeout(absl::Notification& stop, absl::Duration timeout) override;

  // Moves both clocks forward by `d` (>= 0) and wakes the waits that are then due.
  void Advance(absl::Duration d);
  // Blocks (in real time) until at least `n` threads wait on this clock for a deadline that has
  // not come yet: the thread under test has done what was due and parked itself again.
  void BlockUntilWaiting(int n);
  // How many waits have begun so far.
  int waits_started();

 private:
  absl::Mutex mu_;
  absl::Duration elapsed_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  const absl::Time start_;
  const std::chrono::steady_clock::time_point steady_start_;
  // The deadline of every wait in progress, as time since the start.
  std::multiset<absl::Duration> deadlines_ ABSL_GUARDED_BY(mu_);
  int waits_started_ ABSL_GUARDED_BY(mu_) = 0;
  // Signalled whenever elapsed_ or deadlines_ change. A CondVar rather than Mutex::Await: Debian's
  // Abseil evaluates an Await condition inside the library, where ThreadSanitizer cannot see that
  // the mutex is held (tests/sanitizers/tsan_absl_sync.cc).
  absl::CondVar changed_;
};

}  // namespace nodegate::testlib
