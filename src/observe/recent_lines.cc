#include "observe/recent_lines.h"

#include <algorithm>

namespace nodegate::observe {

RecentLines::RecentLines(size_t capacity) : slots_(std::max<size_t>(capacity, 1)) {}

void RecentLines::Push(std::string line) {
  std::lock_guard<std::mutex> lock(mu_);
  // swap: the old slot's buffer is freed by `line` after the lock is released.
  slots_[next_ % slots_.size()].swap(line);
  ++next_;
}

std::vector<std::string> RecentLines::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t n = std::min<uint64_t>(next_, slots_.size());
  std::vector<std::string> out;
  out.reserve(n);
  for (uint64_t i = next_ - n; i < next_; ++i) out.push_back(slots_[i % slots_.size()]);
  return out;
}

uint64_t RecentLines::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_;
}

}  // namespace nodegate::observe
