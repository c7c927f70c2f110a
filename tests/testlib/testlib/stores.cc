#include "testlib/stores.h"

#include "testlib/status.h"

namespace nodegate::testlib {

store::Stores OpenStores(const ScopedTempDir& dir) {
  return Unwrap(store::OpenSqliteStores(dir.File("nodegate.db")));
}

}  // namespace nodegate::testlib
