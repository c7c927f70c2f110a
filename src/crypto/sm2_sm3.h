// Internal to nodegate_crypto: SM2 signatures with SM3 and the distinguishing ID
// "1234567812345678" (GM/T 0009). Reached through NewSigner / NewVerifier
// (crypto/signer_factory.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/evp_signature.h"
#include "crypto/openssl_ptr.h"
#include "crypto/signer.h"
#include "crypto/verifier.h"

namespace nodegate::crypto::internal {

class Sm2Sm3Signer final : public Signer {
 public:
  // `private_key` must be an SM2 private key; INVALID_ARGUMENT says what it was otherwise.
  static absl::StatusOr<std::unique_ptr<Signer>> New(EvpPkeyPtr private_key);

  absl::StatusOr<std::string> Sign(std::string_view data) const override;
  Algorithm algorithm() const override { return Algorithm::kSm2Sm3; }

 private:
  explicit Sm2Sm3Signer(EvpPkeyPtr key) : key_(std::move(key)) {}
  const EvpPkeyPtr key_;
};

class Sm2Sm3Verifier final : public Verifier {
 public:
  // `public_key` must be an SM2 key; INVALID_ARGUMENT says what it was otherwise.
  static absl::StatusOr<std::unique_ptr<Verifier>> New(EvpPkeyPtr public_key);

  absl::Status Verify(std::string_view signature, std::string_view data) const override;
  Algorithm algorithm() const override { return Algorithm::kSm2Sm3; }

 private:
  explicit Sm2Sm3Verifier(EvpVerifyContext context) : context_(std::move(context)) {}
  const EvpVerifyContext context_;
};

}  // namespace nodegate::crypto::internal
