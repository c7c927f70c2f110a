#include "base/clock.h"

namespace nodegate::base {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  std::chrono::steady_clock::time_point SteadyNow() override {
    return std::chrono::steady_clock::now();
  }
  bool WaitForNotificationWithTimeout(absl::Notification& stop, absl::Duration timeout) override {
    return stop.WaitForNotificationWithTimeout(timeout);
  }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock* const clock = new RealClock();  // never destroyed: threads may outlive main
  return *clock;
}

}  // namespace nodegate::base
