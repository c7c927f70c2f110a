#include "rpc/token_bucket.h"

#include <algorithm>

namespace nodegate::rpc {

bool TokenBucket::Take(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (last_ != absl::InfinitePast() && now > last_) {
    tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * rate_);
  }
  if (last_ == absl::InfinitePast() || now > last_)
    last_ = now;  // a clock step back refills nothing
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

}  // namespace nodegate::rpc
