// Test helpers: a fresh database path per test, under NODEGATE_TEST_TMPDIR.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace nodegate::store::testing {

// A new empty directory; the database file in it does not exist yet.
inline std::string NewTempDir() {
  std::filesystem::create_directories(NODEGATE_TEST_TMPDIR);
  std::string templ = std::string(NODEGATE_TEST_TMPDIR) + "/store-XXXXXX";
  char* dir = mkdtemp(templ.data());
  EXPECT_NE(dir, nullptr);
  return templ;
}

inline std::string NewDbPath() { return NewTempDir() + "/nodegate.db"; }

// A syntactically valid hex SHA-256, distinct per seed (seed must be a hex digit).
inline std::string Hash(char seed) { return std::string(63, 'a') + seed; }

}  // namespace nodegate::store::testing
