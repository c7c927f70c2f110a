// Where time comes from. Code that reads the time or waits for it takes a Clock instead of calling
// absl::Now, steady_clock::now or a condition variable's wait_for itself, so that tests can move
// time by hand (testlib::ManualClock) and check a schedule or a timeout without sleeping.
// Production code uses Clock::Real().
#pragma once

#include <chrono>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace nodegate::base {

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall time: certificate validity, timestamps on the wire.
  virtual absl::Time Now() = 0;
  // Monotonic time: intervals, schedules, latencies. Never goes back.
  virtual std::chrono::steady_clock::time_point SteadyNow() = 0;
  // Blocks until `timeout` of this clock's time has passed or `stop` is notified, whichever is
  // first. True when `stop` was notified (as absl::Notification::WaitForNotificationWithTimeout).
  virtual bool WaitForNotificationWithTimeout(absl::Notification& stop, absl::Duration timeout) = 0;

  // The process's clocks (absl::Now, std::chrono::steady_clock) and real waits. Thread-safe.
  static Clock& Real();
};

}  // namespace nodegate::base
