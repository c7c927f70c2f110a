#include "crypto/ed25519.h"

#include "absl/strings/str_cat.h"
#include "crypto/evp_signature.h"
#include "crypto/pem_key.h"

namespace nodegate::crypto::internal {
namespace {

constexpr size_t kEd25519SignatureSize = 64;

const EvpSignatureParams& Params() {
  // Pure Ed25519 hashes internally with SHA-512; EVP requires md == NULL and one-shot calls.
  static const EvpSignatureParams params{"ed25519", nullptr, std::nullopt};
  return params;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Signer>> Ed25519Signer::New(EvpPkeyPtr private_key) {
  if (absl::Status s = CheckKeyFor(Algorithm::kEd25519, private_key.get()); !s.ok()) return s;
  return std::unique_ptr<Signer>(new Ed25519Signer(std::move(private_key)));
}

absl::StatusOr<std::string> Ed25519Signer::Sign(std::string_view data) const {
  return EvpSign(Params(), key_.get(), data);
}

absl::StatusOr<std::unique_ptr<Verifier>> Ed25519Verifier::New(EvpPkeyPtr public_key) {
  if (absl::Status s = CheckKeyFor(Algorithm::kEd25519, public_key.get()); !s.ok()) return s;
  absl::StatusOr<EvpVerifyContext> context = EvpVerifyContext::New(Params(), public_key.get());
  if (!context.ok()) return context.status();
  return std::unique_ptr<Verifier>(new Ed25519Verifier(*std::move(context)));
}

absl::Status Ed25519Verifier::Verify(std::string_view signature, std::string_view data) const {
  if (signature.size() != kEd25519SignatureSize) {
    return absl::InvalidArgumentError(absl::StrCat("ed25519: invalid signature size (",
                                                   signature.size(), "); the only valid size is ",
                                                   kEd25519SignatureSize));
  }
  return context_.Verify(signature, data);
}

}  // namespace nodegate::crypto::internal
