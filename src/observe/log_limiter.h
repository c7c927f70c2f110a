// Keeps a flood of one kind of log line from flooding the log: per key (a call site, a reason),
// at most one line per interval passes; the lines held back are counted and the next line that
// passes reports how many. The clock is the caller's (tests pass their own times).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace nodegate::observe {

class LogLimiter {
 public:
  explicit LogLimiter(absl::Duration interval) : interval_(interval) {}

  // True when a line for `key` may be written at `now`; then `*suppressed` is the number of lines
  // for `key` held back since the last one written. Thread-safe.
  bool Admit(const std::string& key, absl::Time now, uint64_t* suppressed);
  // Every line held back so far, all keys.
  uint64_t total_suppressed() const;

 private:
  struct Site {
    absl::Time last = absl::InfinitePast();
    uint64_t held = 0;
  };
  const absl::Duration interval_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Site> sites_;
  uint64_t total_suppressed_ = 0;
};

}  // namespace nodegate::observe
