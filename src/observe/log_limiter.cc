#include "observe/log_limiter.h"

namespace nodegate::observe {

// Keys are call sites and reasons chosen by our code, never peer data, so the map stays small.
bool LogLimiter::Admit(const std::string& key, absl::Time now, uint64_t* suppressed) {
  std::lock_guard<std::mutex> lock(mu_);
  Site& site = sites_[key];
  if (now - site.last < interval_) {
    ++site.held;
    ++total_suppressed_;
    return false;
  }
  site.last = now;
  *suppressed = site.held;
  site.held = 0;
  return true;
}

uint64_t LogLimiter::total_suppressed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_suppressed_;
}

}  // namespace nodegate::observe
