// A token bucket: `rate` tokens a second, at most `burst` saved up. The caller passes the time,
// so tests run on their own clock. Thread-safe; meant for paths that are not the hot path of
// authenticated calls (the server core uses it only for calls without credentials).
#pragma once

#include <mutex>

#include "absl/time/time.h"

namespace nodegate::rpc {

class TokenBucket {
 public:
  // rate > 0, burst >= 1. The bucket starts full.
  TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}

  // Takes one token if there is one at `now`.
  bool Take(absl::Time now);

 private:
  const double rate_;
  const double burst_;
  std::mutex mu_;
  double tokens_;
  absl::Time last_ = absl::InfinitePast();
};

}  // namespace nodegate::rpc
