// The open-loop schedule of one load-generator worker: which call is due when, and which call
// slot (in-flight budget) it runs on.
//
// Call k (k = 0, 1, …) is due at first + k·interval, whether or not earlier calls have come back:
// the arrival process does not wait for the server, so a slow server shows up as latency measured
// from the due time instead of being hidden by a generator that waits for it (no coordinated
// omission). A due call needs a free slot; if none is free the call is owed, and is claimed, with
// its own due time, as soon as a slot is released. Calls are claimed strictly in order.
//
// Not thread-safe: the worker thread that owns the slots owns its schedule.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

namespace nodegate::loadgen {

class OpenLoopSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  // A claimed call: start it on `slot` and measure its latency from `due`. `owed`: it fell due
  // while every slot was busy, so its start lag is the in-flight budget's doing (the server
  // holding calls), not the generator's.
  struct Start {
    int slot = -1;
    Clock::time_point due;
    bool owed = false;
  };

  // Slots numbered 0..slots-1, all free. interval_ns > 0; slots > 0.
  OpenLoopSchedule(Clock::time_point first, double interval_ns, int slots);

  // When call k is due.
  Clock::time_point Due(int64_t k) const {
    return first_ + std::chrono::nanoseconds(
                        static_cast<int64_t>(std::llround(static_cast<double>(k) * interval_ns_)));
  }

  // Claims the next call if it is due at `now` and a slot is free. `admit(due)` is asked first;
  // once it refuses, the schedule is finished: nothing is claimed any more.
  template <typename Admit>
  bool Claim(Clock::time_point now, const Admit& admit, Start* out) {
    if (finished_ || free_.empty()) return false;
    Clock::time_point due = Due(next_);
    if (due > now) return false;
    if (!admit(due)) {
      finished_ = true;
      return false;
    }
    out->slot = free_.back();
    out->due = due;
    out->owed = due < owed_before_;
    free_.pop_back();
    ++next_;
    return true;
  }

  // A claimed call has completed at `now`: its slot is free again.
  void Release(int slot, Clock::time_point now) {
    // Every call due before now and not claimed yet fell due with no slot free (claims go in
    // order, and the last claim took the last slot).
    if (free_.empty()) owed_before_ = now;
    free_.push_back(slot);
  }

  // When Claim can next succeed: the next call's due time while a slot is free; never (max())
  // while none is (a Release comes first) or once finished.
  Clock::time_point NextClaim() const {
    return finished_ || free_.empty() ? Clock::time_point::max() : Due(next_);
  }

  // Ends the schedule: nothing is claimed any more (calls already claimed still run).
  void Finish() { finished_ = true; }
  bool finished() const { return finished_; }
  // Finished, and every claimed call has been released.
  bool drained() const { return finished_ && free_.size() == slots_; }
  int64_t claimed() const { return next_; }

 private:
  Clock::time_point first_;
  double interval_ns_;
  size_t slots_;
  std::vector<int> free_;  // a stack: the slot released last is reused first (warm in cache)
  int64_t next_ = 0;       // the first call not yet claimed
  Clock::time_point owed_before_;
  bool finished_ = false;
};

}  // namespace nodegate::loadgen
