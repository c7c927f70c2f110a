// StatusOr unwrapping for test fixtures.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <utility>

#include "absl/status/statusor.h"

namespace nodegate::testlib {

// The value of `v`; a failed fixture is reported and aborts the test binary: a broken fixture
// makes every following line meaningless.
template <typename T>
T Unwrap(absl::StatusOr<T> v) {
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok()) std::abort();
  return *std::move(v);
}

}  // namespace nodegate::testlib
