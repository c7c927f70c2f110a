// Internal to nodegate_crypto: the one-shot EVP DigestSign/DigestVerify calls shared by the SM2,
// ECDSA and Ed25519 implementations. Every call builds fresh contexts, so a shared EVP_PKEY can be
// used from many threads at once.
#pragma once

#include <openssl/evp.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nodegate::crypto::internal {

// How to drive EVP for one algorithm. (Debian's Abseil is built with its own absl::string_view,
// which StrCat needs; std::string_view does not convert to it.)
struct EvpSignatureParams {
  absl::string_view algorithm_name;  // For messages.
  const EVP_MD* md = nullptr;        // nullptr for Ed25519 (it hashes internally).
  // Set for SM2: the distinguishing ID hashed into Z_A. Must be set on an EVP_PKEY_CTX attached to
  // the EVP_MD_CTX before Init, the only point where OpenSSL 3.0 lets us choose it.
  std::optional<std::string_view> sm2_distinguishing_id;
};

absl::StatusOr<std::string> EvpSign(const EvpSignatureParams& params, EVP_PKEY* key,
                                    std::string_view data);

// OK, UNAUTHENTICATED ("signature mismatch") or INVALID_ARGUMENT (OpenSSL could not parse the
// signature); see crypto/verifier.h. The caller checks the signature's shape first.
absl::Status EvpVerify(const EvpSignatureParams& params, EVP_PKEY* key, std::string_view signature,
                       std::string_view data);

// OK when `signature` is a strict-DER ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }) with
// nothing after it, the form SM2 and ECDSA signatures take on the wire. Rejecting BER variants here
// keeps signatures non-malleable in their encoding.
absl::Status CheckDerEcdsaSignature(absl::string_view algorithm_name, std::string_view signature);

}  // namespace nodegate::crypto::internal
