#include "crypto/ecdsa_p256.h"

#include "crypto/evp_signature.h"
#include "crypto/pem_key.h"

namespace nodegate::crypto::internal {
namespace {

const EvpSignatureParams& Params() {
  static const EvpSignatureParams params{"ecdsa-p256-sha256", EVP_sha256(), std::nullopt};
  return params;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Signer>> EcdsaP256Signer::New(EvpPkeyPtr private_key) {
  if (absl::Status s = CheckKeyFor(Algorithm::kEcdsaP256Sha256, private_key.get()); !s.ok()) {
    return s;
  }
  return std::unique_ptr<Signer>(new EcdsaP256Signer(std::move(private_key)));
}

absl::StatusOr<std::string> EcdsaP256Signer::Sign(std::string_view data) const {
  return EvpSign(Params(), key_.get(), data);
}

absl::StatusOr<std::unique_ptr<Verifier>> EcdsaP256Verifier::New(EvpPkeyPtr public_key) {
  if (absl::Status s = CheckKeyFor(Algorithm::kEcdsaP256Sha256, public_key.get()); !s.ok()) {
    return s;
  }
  absl::StatusOr<EvpVerifyContext> context = EvpVerifyContext::New(Params(), public_key.get());
  if (!context.ok()) return context.status();
  return std::unique_ptr<Verifier>(new EcdsaP256Verifier(*std::move(context)));
}

absl::Status EcdsaP256Verifier::Verify(std::string_view signature, std::string_view data) const {
  if (absl::Status s = CheckDerSignatureSize(Params().algorithm_name, signature); !s.ok()) {
    return s;
  }
  return context_.Verify(signature, data);
}

}  // namespace nodegate::crypto::internal
