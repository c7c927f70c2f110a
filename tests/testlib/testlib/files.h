// Reading and writing the files a test lays out, and running a command for cross-checks.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace nodegate::testlib {

// Writes the way a careful operator (or cert-manager) does: a temp file renamed over the target,
// mode 0600. A failure fails the test.
void WriteFile(const std::string& path, std::string_view content);

// The whole file; empty if it cannot be read.
std::string ReadFile(const std::string& path);

// The permission bits of `path` (a missing file fails the test).
mode_t FileMode(const std::string& path);

// Runs `command` with sh, stdout and stderr going to `log`; returns the exit code (-1 if it did
// not exit).
int RunCommand(const std::string& command, const std::string& log);

}  // namespace nodegate::testlib
