// Small, status-returning file helpers shared by every module (no module-specific knowledge here).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace nodegate::base {

// The whole file; NOT_FOUND names the path when it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `content` to a temp file beside `path`, fsyncs it and renames it over `path`, so readers
// see either the old or the new content, never a mix. `mode` applies to the new file (0600 for
// keys).
absl::Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode = 0644);

// Creates `path` and its parents (like mkdir -p) with `mode` for the directories it makes.
absl::Status MakeDirs(const std::string& path, mode_t mode = 0755);

bool FileExists(const std::string& path);

// `path` if absolute, else `base_dir`/`path` (base_dir empty means the current directory).
std::string ResolvePath(const std::string& base_dir, const std::string& path);

}  // namespace nodegate::base
