#include "crypto/signer_factory.h"

#include <utility>

#include "crypto/ecdsa_p256.h"
#include "crypto/ed25519.h"
#include "crypto/pem_key.h"
#include "crypto/sm2_sm3.h"

namespace nodegate::crypto {

absl::StatusOr<std::unique_ptr<Signer>> NewSigner(Algorithm algorithm,
                                                  std::string_view private_key_pem) {
  auto key = internal::ParsePrivateKeyPem(private_key_pem);
  if (!key.ok()) return key.status();
  switch (algorithm) {
    case Algorithm::kSm2Sm3:
      return internal::Sm2Sm3Signer::New(*std::move(key));
    case Algorithm::kEcdsaP256Sha256:
      return internal::EcdsaP256Signer::New(*std::move(key));
    case Algorithm::kEd25519:
      return internal::Ed25519Signer::New(*std::move(key));
  }
  return absl::InvalidArgumentError("NewSigner: unknown algorithm");
}

absl::StatusOr<std::unique_ptr<Verifier>> NewVerifier(Algorithm algorithm,
                                                      std::string_view public_key_pem) {
  auto key = internal::ParsePublicKeyPem(public_key_pem);
  if (!key.ok()) return key.status();
  switch (algorithm) {
    case Algorithm::kSm2Sm3:
      return internal::Sm2Sm3Verifier::New(*std::move(key));
    case Algorithm::kEcdsaP256Sha256:
      return internal::EcdsaP256Verifier::New(*std::move(key));
    case Algorithm::kEd25519:
      return internal::Ed25519Verifier::New(*std::move(key));
  }
  return absl::InvalidArgumentError("NewVerifier: unknown algorithm");
}

}  // namespace nodegate::crypto
