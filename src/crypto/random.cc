#include "crypto/random.h"

#include <openssl/rand.h>

#include "crypto/openssl_error.h"

namespace nodegate::crypto {

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return OpenSslError("RAND_bytes failed");
  }
  return out;
}

absl::StatusOr<int64_t> RandomUniform(int64_t lo, int64_t hi) {
  if (hi < lo) return absl::InvalidArgumentError("RandomUniform: hi < lo");
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;  // 0 means the full 2^64 range
  // Rejection sampling: draw until the value falls below the largest multiple of `span`.
  const uint64_t limit = span == 0 ? 0 : UINT64_MAX - (UINT64_MAX % span);
  for (;;) {
    uint64_t v = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof(v)) != 1) {
      return OpenSslError("RAND_bytes failed");
    }
    if (span == 0) return static_cast<int64_t>(v);
    if (v < limit) return lo + static_cast<int64_t>(v % span);
  }
}

}  // namespace nodegate::crypto
