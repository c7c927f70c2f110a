// Fuzzes crypto::Verifier::Verify, where a peer's signature bytes meet OpenSSL's decoders (DER
// ECDSA-Sig-Value for SM2 and ECDSA, the raw 64 bytes of Ed25519), with the published test keys of
// tests/unit/crypto/known_answer_test.cc. Input: byte 0 picks the algorithm, byte 1 the signature
// length; then the signature, then the signed data. Traps when a verdict has a code other than OK,
// UNAUTHENTICATED or INVALID_ARGUMENT, when the same call twice gives two verdicts (each call works
// on a copy of the verifier's prepared context, which must stay as it was), or when an SM2/ECDSA
// signature that verified is not strict DER (encodings must not be malleable).
#include <openssl/ecdsa.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/openssl_ptr.h"
#include "crypto/signer_factory.h"

namespace {

using nodegate::crypto::Algorithm;
using nodegate::crypto::Verifier;

// GM/T 0003.5 Annex A, RFC 6979 §A.2.5 and RFC 8032 §7.1 TEST 1.
constexpr char kSm2PublicKeyPem[] = R"pem(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAECfnfMR5UIaFQ3X0WHkvFxnIXn60Y
M/wHa7CP81bzUCDM6kkM4md1pS3G6nGMwapgCu0F+/NeCEpmMvYHLamtEw==
-----END PUBLIC KEY-----
)pem";
constexpr char kP256PublicKeyPem[] = R"pem(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYP7UuiVanTHJYet0xjVtaMBJuJI7
Yfps5mliLmDyn7Z5A/4QCLi8maQa6elWKLxk8vGyDC1+n1F3o8KU1EYimQ==
-----END PUBLIC KEY-----
)pem";
constexpr char kEd25519PublicKeyPem[] = R"pem(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
-----END PUBLIC KEY-----
)pem";

const Verifier& VerifierFor(uint8_t pick) {
  static const auto* const verifiers = [] {
    auto make = [](Algorithm alg, const char* pem) {
      auto v = nodegate::crypto::NewVerifier(alg, pem);
      if (!v.ok()) std::abort();  // a fixture that cannot be built makes every input meaningless
      return *std::move(v);
    };
    return new std::unique_ptr<Verifier>[3] {
      make(Algorithm::kSm2Sm3, kSm2PublicKeyPem),
          make(Algorithm::kEcdsaP256Sha256, kP256PublicKeyPem),
          make(Algorithm::kEd25519, kEd25519PublicKeyPem)
    };
  }();
  return *verifiers[pick % 3];
}

bool IsStrictDer(std::string_view signature) {
  const auto* p = reinterpret_cast<const unsigned char*>(signature.data());
  nodegate::crypto::EcdsaSigPtr sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())));
  if (!sig) return false;
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  const bool same = len > 0 && std::string_view(reinterpret_cast<char*>(der), len) == signature;
  OPENSSL_free(der);
  return same;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const Verifier& verifier = VerifierFor(data[0]);
  const std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const size_t sig_len = std::min<size_t>(data[1], rest.size());
  const std::string_view signature = rest.substr(0, sig_len);
  const std::string_view message = rest.substr(sig_len);

  const absl::Status first = verifier.Verify(signature, message);
  if (!first.ok() && !absl::IsUnauthenticated(first) && !absl::IsInvalidArgument(first)) {
    __builtin_trap();
  }
  if (verifier.Verify(signature, message).code() != first.code()) __builtin_trap();
  if (first.ok() && verifier.algorithm() != Algorithm::kEd25519 && !IsStrictDer(signature)) {
    __builtin_trap();
  }
  return 0;
}
