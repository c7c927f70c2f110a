#include "loadgen/open_loop_schedule.h"

namespace nodegate::loadgen {

OpenLoopSchedule::OpenLoopSchedule(Clock::time_point first, double interval_ns, int slots)
    : first_(first), interval_ns_(interval_ns), slots_(static_cast<size_t>(slots)) {
  free_.reserve(slots_);
  // Slot 0 on top, so a light load keeps reusing the same few slots.
  for (int s = slots - 1; s >= 0; --s) free_.push_back(s);
}

}  // namespace nodegate::loadgen
