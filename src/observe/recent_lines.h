// The last N formatted access-log lines, kept in memory for the web console. Fed by AccessLog with
// the line it already formatted, so the per-call cost is one string copy and one short critical
// section (a slot assignment) — no allocation beyond the copy, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace nodegate::observe {

class RecentLines {
 public:
  // `capacity` of 0 is treated as 1.
  explicit RecentLines(size_t capacity);

  void Push(std::string line);
  // Oldest first; at most capacity() lines.
  std::vector<std::string> Snapshot() const;
  size_t capacity() const { return slots_.size(); }
  uint64_t total() const;  // lines pushed since start

 private:
  mutable std::mutex mu_;
  std::vector<std::string> slots_;
  uint64_t next_ = 0;
};

}  // namespace nodegate::observe
