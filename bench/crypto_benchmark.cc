// Per-call cost of the signature layer: what the auth processor pays for every signed call
// (one Verify) and what a client pays (one Sign), per algorithm. The message is a realistic
// string-to-sign (design §3). Also: building a verifier from PEM (registry cache miss), and the
// small encoders on the same path. BM_Verify also counts OpenSSL's heap allocations per verify
// (allocs_per_verify): a figure that does not move with the machine's noise.
#include <benchmark/benchmark.h>
#include <openssl/crypto.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "crypto/algorithm.h"
#include "crypto/digest.h"
#include "crypto/encoding.h"
#include "crypto/key.h"
#include "crypto/signer_factory.h"

namespace nodegate::crypto {
namespace {

// OpenSSL's allocations on this thread, counted by the hooks main() installs before OpenSSL
// allocates anything.
thread_local uint64_t openssl_allocations = 0;

void* CountedMalloc(size_t n, const char* /*file*/, int /*line*/) {
  ++openssl_allocations;
  return std::malloc(n);
}
void* CountedRealloc(void* p, size_t n, const char* /*file*/, int /*line*/) {
  ++openssl_allocations;
  return std::realloc(p, n);
}
void PlainFree(void* p, const char* /*file*/, int /*line*/) { std::free(p); }

const std::string& Message() {
  static const std::string message =
      "NODEGATE-SIG-V1\n/api.DiceService/RollDie\nnode-b\nnode-a\n1767225600000\n"
      "q3Vb1x9QmZ0kS4d7TgXh2A";
  return message;
}

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", v.status().ToString().c_str());
    std::abort();
  }
  return *std::move(v);
}

Algorithm Alg(const benchmark::State& state) { return static_cast<Algorithm>(state.range(0)); }

void SetAlgLabel(benchmark::State& state) {
  state.SetLabel(std::string(AlgorithmName(Alg(state))));
}

void BM_Sign(benchmark::State& state) {
  const KeyPair keys = OrDie(GenerateKeyPair(Alg(state)));
  const auto signer = OrDie(NewSigner(Alg(state), keys.private_key_pem));
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer->Sign(Message()));
  }
  SetAlgLabel(state);
}

void BM_Verify(benchmark::State& state) {
  const KeyPair keys = OrDie(GenerateKeyPair(Alg(state)));
  const auto signer = OrDie(NewSigner(Alg(state), keys.private_key_pem));
  const auto verifier = OrDie(NewVerifier(Alg(state), keys.public_key_pem));
  const std::string signature = OrDie(signer->Sign(Message()));
  const uint64_t allocations_before = openssl_allocations;
  for (auto _ : state) {
    absl::Status s = verifier->Verify(signature, Message());
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(s);
  }
  state.counters["allocs_per_verify"] =
      benchmark::Counter(static_cast<double>(openssl_allocations - allocations_before),
                         benchmark::Counter::kAvgIterations);
  SetAlgLabel(state);
}

void BM_NewVerifierFromPem(benchmark::State& state) {
  const KeyPair keys = OrDie(GenerateKeyPair(Alg(state)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(NewVerifier(Alg(state), keys.public_key_pem));
  }
  SetAlgLabel(state);
}

void BM_Base64UrlDecodeSignature(benchmark::State& state) {
  const std::string encoded = Base64UrlEncode(std::string(72, '\x5a'));
  for (auto _ : state) benchmark::DoNotOptimize(Base64UrlDecode(encoded));
}

void BM_Sha256(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(Message()));
}

#define NODEGATE_PER_ALGORITHM(bm)                         \
  BENCHMARK(bm)                                            \
      ->Arg(static_cast<int>(Algorithm::kSm2Sm3))          \
      ->Arg(static_cast<int>(Algorithm::kEcdsaP256Sha256)) \
      ->Arg(static_cast<int>(Algorithm::kEd25519))

NODEGATE_PER_ALGORITHM(BM_Sign);
NODEGATE_PER_ALGORITHM(BM_Verify);
NODEGATE_PER_ALGORITHM(BM_NewVerifierFromPem);
// The auth processor verifies from gRPC's threads; this shows whether Verify scales across cores.
NODEGATE_PER_ALGORITHM(BM_Verify)->Threads(2)->UseRealTime();
BENCHMARK(BM_Base64UrlDecodeSignature);
BENCHMARK(BM_Sha256);

}  // namespace
}  // namespace nodegate::crypto

int main(int argc, char** argv) {
  // Refused (and then not counted: allocs_per_verify reads 0) once OpenSSL has allocated.
  if (CRYPTO_set_mem_functions(nodegate::crypto::CountedMalloc, nodegate::crypto::CountedRealloc,
                               nodegate::crypto::PlainFree) != 1) {
    std::fprintf(stderr, "crypto_benchmark: OpenSSL allocated before main; not counting\n");
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
