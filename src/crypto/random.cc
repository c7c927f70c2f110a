#include "crypto/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "crypto/openssl_error.h"

namespace nodegate::crypto {

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return OpenSslError("RAND_bytes failed");
  }
  return out;
}

namespace {

// RAND_bytes costs about the same for 8 bytes as for 512 (provider dispatch, DRBG locking), which
// made it the largest single cost of a RollDie. Small draws are therefore served from a per-thread
// pool of DRBG output fetched 512 bytes at a time. Each byte is handed out once and wiped; a forked
// child drops the pool it inherited, so parent and child never share output.
constexpr size_t kPoolBytes = 512;
std::atomic<uint64_t> fork_generation{0};
std::once_flag atfork_once;

struct Pool {
  unsigned char bytes[kPoolBytes];
  size_t next = kPoolBytes;  // empty
  uint64_t generation = 0;
};

absl::Status DrawPooled(unsigned char* out, size_t n) {
  std::call_once(atfork_once,
                 [] { pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); }); });
  thread_local Pool pool;
  uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (pool.generation != generation) {
    OPENSSL_cleanse(pool.bytes, sizeof(pool.bytes));
    pool.next = kPoolBytes;
    pool.generation = generation;
  }
  if (kPoolBytes - pool.next < n) {
    if (RAND_bytes(pool.bytes, static_cast<int>(kPoolBytes)) != 1) {
      return OpenSslError("RAND_bytes failed");
    }
    pool.next = 0;
  }
  std::memcpy(out, pool.bytes + pool.next, n);
  OPENSSL_cleanse(pool.bytes + pool.next, n);
  pool.next += n;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> RandomUniform(int64_t lo, int64_t hi) {
  if (hi < lo) return absl::InvalidArgumentError("RandomUniform: hi < lo");
  // Unsigned arithmetic: hi - lo overflows int64 for wide ranges.
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;  // 0: all 2^64
  // Rejection sampling: draw until the value falls below the largest multiple of `span`.
  const uint64_t limit = span == 0 ? 0 : UINT64_MAX - (UINT64_MAX % span);
  for (;;) {
    uint64_t v = 0;
    if (absl::Status s = DrawPooled(reinterpret_cast<unsigned char*>(&v), sizeof(v)); !s.ok()) {
      return s;
    }
    if (span == 0) return static_cast<int64_t>(v);
    if (v < limit) return static_cast<int64_t>(static_cast<uint64_t>(lo) + v % span);
  }
}

}  // namespace nodegate::crypto
