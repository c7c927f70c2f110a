// Cryptographically secure randomness from OpenSSL's DRBG.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace nodegate::crypto {

// `n` random bytes.
absl::StatusOr<std::string> RandomBytes(size_t n);

// A uniform integer in [lo, hi] (inclusive), without modulo bias.
absl::StatusOr<int64_t> RandomUniform(int64_t lo, int64_t hi);

}  // namespace nodegate::crypto
