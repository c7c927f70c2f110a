#include "crypto/sm2_sm3.h"

#include "crypto/evp_signature.h"
#include "crypto/pem_key.h"

namespace nodegate::crypto::internal {
namespace {

// OpenSSL 3.0 uses an EMPTY distinguishing ID when none is set, while GM/T 0009, GmSSL,
// BouncyCastle and every peer we talk to use "1234567812345678". Signatures made with different IDs
// never verify against each other, so the ID is set explicitly on every context.
constexpr std::string_view kSm2DistinguishingId = "1234567812345678";

const EvpSignatureParams& Params() {
  static const EvpSignatureParams params{"sm2-sm3", EVP_sm3(), kSm2DistinguishingId};
  return params;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Signer>> Sm2Sm3Signer::New(EvpPkeyPtr private_key) {
  if (absl::Status s = CheckKeyFor(Algorithm::kSm2Sm3, private_key.get()); !s.ok()) return s;
  return std::unique_ptr<Signer>(new Sm2Sm3Signer(std::move(private_key)));
}

absl::StatusOr<std::string> Sm2Sm3Signer::Sign(std::string_view data) const {
  return EvpSign(Params(), key_.get(), data);
}

absl::StatusOr<std::unique_ptr<Verifier>> Sm2Sm3Verifier::New(EvpPkeyPtr public_key) {
  if (absl::Status s = CheckKeyFor(Algorithm::kSm2Sm3, public_key.get()); !s.ok()) return s;
  absl::StatusOr<EvpVerifyContext> context = EvpVerifyContext::New(Params(), public_key.get());
  if (!context.ok()) return context.status();
  return std::unique_ptr<Verifier>(new Sm2Sm3Verifier(*std::move(context)));
}

absl::Status Sm2Sm3Verifier::Verify(std::string_view signature, std::string_view data) const {
  if (absl::Status s = CheckDerSignatureSize(Params().algorithm_name, signature); !s.ok()) {
    return s;
  }
  return context_.Verify(signature, data);
}

}  // namespace nodegate::crypto::internal
