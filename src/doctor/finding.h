// What `nodegate doctor` reports: one finding per check, ok / warn / fail, each with what was found
// and, when something is wrong, the fix. Plain data, so that every check can be unit-tested on its
// own and the CLI only prints.
#pragma once

#include <string>
#include <vector>

namespace nodegate::doctor {

enum class Level { kOk, kWarn, kFail };

struct Finding {
  std::string check;  // what was checked: "tls.cert chains to tls.ca"
  Level level = Level::kOk;
  std::string detail;  // what was found, with the values that decided it
  std::string fix;     // what to do; empty when there is nothing to do
};

// "ok", "warn", "fail".
std::string LevelName(Level level);

// The worst level among `findings`; kOk when there are none.
Level Worst(const std::vector<Finding>& findings);

// One line per finding ("ok    check: detail"), the fix indented under a warn or a fail, then a
// summary line ("12 ok, 1 warn, 0 fail").
std::string RenderText(const std::vector<Finding>& findings);

// {"findings": [{"check", "level", "detail", "fix"}...], "ok": N, "warn": N, "fail": N}.
std::string RenderJson(const std::vector<Finding>& findings);

}  // namespace nodegate::doctor
