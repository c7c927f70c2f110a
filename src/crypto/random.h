// Cryptographically secure randomness from OpenSSL's DRBG.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace nodegate::crypto {

// `n` random bytes.
absl::StatusOr<std::string> RandomBytes(size_t n);

// A uniform integer in [lo, hi] (inclusive), without modulo bias. Drawn from a per-thread pool
// of DRBG output (refilled 512 bytes at a time), so a small draw costs no RAND_bytes call.
absl::StatusOr<int64_t> RandomUniform(int64_t lo, int64_t hi);

}  // namespace nodegate::crypto
