#include "base/closest_name.h"

#include <algorithm>
#include <vector>

namespace nodegate::base {

int EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  // Three rows suffice: the swap looks two rows back.
  std::vector<int> two_back(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= m; ++j) {
      const int change = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + change});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], two_back[j - 2] + 1);
      }
    }
    std::swap(two_back, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::optional<std::string> ClosestName(std::string_view typed,
                                       const std::vector<std::string>& candidates) {
  if (typed.empty() || std::find(candidates.begin(), candidates.end(), typed) != candidates.end()) {
    return std::nullopt;
  }
  const int limit = typed.size() <= 4 ? 1 : 2;
  const std::string* best = nullptr;
  int best_distance = limit + 1;
  for (const std::string& c : candidates) {
    const int d = EditDistance(typed, c);
    if (d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  if (best != nullptr) return *best;
  if (typed.size() >= 3) {
    for (const std::string& c : candidates) {
      if (c.starts_with(typed)) return c;
    }
  }
  return std::nullopt;
}

}  // namespace nodegate::base
