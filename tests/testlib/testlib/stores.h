// Real SQLite stores for tests, in a scratch directory.
#pragma once

#include <string>

#include "store/sqlite/sqlite_stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::testlib {

// The stores over `dir`/nodegate.db (created); the directory must outlive them.
store::Stores OpenStores(const ScopedTempDir& dir);

// A syntactically valid hex SHA-256, distinct per seed (seed must be a hex digit).
inline std::string Hash(char seed) { return std::string(63, 'a') + seed; }

}  // namespace nodegate::testlib
