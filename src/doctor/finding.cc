#include "doctor/finding.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace nodegate::doctor {
namespace {

std::array<int, 3> Count(const std::vector<Finding>& findings) {
  std::array<int, 3> n{};
  for (const Finding& f : findings) ++n[static_cast<size_t>(f.level)];
  return n;
}

}  // namespace

std::string LevelName(Level level) {
  switch (level) {
    case Level::kOk:
      return "ok";
    case Level::kWarn:
      return "warn";
    case Level::kFail:
      return "fail";
  }
  return "fail";
}

Level Worst(const std::vector<Finding>& findings) {
  Level worst = Level::kOk;
  for (const Finding& f : findings) worst = std::max(worst, f.level);
  return worst;
}

std::string RenderText(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& f : findings) {
    const std::string level = LevelName(f.level);
    absl::StrAppend(&out, level, std::string(6 - level.size(), ' '), f.check);
    if (!f.detail.empty()) absl::StrAppend(&out, ": ", f.detail);
    out += "\n";
    if (f.level != Level::kOk && !f.fix.empty()) absl::StrAppend(&out, "      fix: ", f.fix, "\n");
  }
  std::array<int, 3> n = Count(findings);
  absl::StrAppend(&out, n[0], " ok, ", n[1], " warn, ", n[2], " fail\n");
  return out;
}

std::string RenderJson(const std::vector<Finding>& findings) {
  nlohmann::json list = nlohmann::json::array();
  for (const Finding& f : findings) {
    list.push_back({{"check", f.check},
                    {"level", std::string(LevelName(f.level))},
                    {"detail", f.detail},
                    {"fix", f.fix}});
  }
  std::array<int, 3> n = Count(findings);
  return nlohmann::json{{"findings", list}, {"ok", n[0]}, {"warn", n[1]}, {"fail", n[2]}}.dump(2);
}

}  // namespace nodegate::doctor
