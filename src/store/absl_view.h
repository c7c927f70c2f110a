// Debian 12's Abseil is built without ABSL_USES_STD_STRING_VIEW, so absl::string_view is its own
// type; our interfaces use std::string_view and convert where they call Abseil.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace nodegate::store {

inline absl::string_view AbslView(std::string_view v) { return {v.data(), v.size()}; }

}  // namespace nodegate::store
