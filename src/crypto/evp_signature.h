// Internal to nodegate_crypto: the EVP DigestSign/DigestVerify calls shared by the SM2, ECDSA and
// Ed25519 implementations. Signing builds fresh contexts per call; verifying copies a context
// prepared once per key (EvpVerifyContext). Either way a shared key serves many threads at once.
#pragma once

#include <openssl/evp.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/openssl_ptr.h"

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

// A verify operation for one public key, prepared once: the algorithm fetched from the provider,
// the key attached, SM2's distinguishing ID set and its Z_A digest taken. Verify copies it
// (EVP_MD_CTX_copy_ex) instead of calling EVP_DigestVerifyInit, which in OpenSSL 3.0 fetches the
// algorithm and builds every context anew: 41 OpenSSL allocations per ECDSA verify instead of 70,
// 158 instead of 205 for SM2, 6 instead of 11 for Ed25519 (bench/crypto_benchmark.cc,
// BM_Verify's allocs_per_verify). Verify only reads the prepared context, so one EvpVerifyContext
// serves many threads at once.
class EvpVerifyContext {
 public:
  // `params` must outlive the context (the implementations pass function-local statics).
  static absl::StatusOr<EvpVerifyContext> New(const EvpSignatureParams& params, EVP_PKEY* key);

  // OK, UNAUTHENTICATED ("signature mismatch") or INVALID_ARGUMENT (the signature is malformed);
  // see crypto/verifier.h. For SM2 and ECDSA, OpenSSL's own decoder refuses every encoding but
  // strict DER (it decodes, re-encodes and compares, CVE-2014-8275), so a BER variant of a valid
  // signature is INVALID_ARGUMENT here too: signatures stay non-malleable in their encoding.
  absl::Status Verify(std::string_view signature, std::string_view data) const;

 private:
  EvpVerifyContext(const EvpSignatureParams& params, EvpPkeyCtxPtr pkey_ctx, EvpMdCtxPtr md_ctx)
      : params_(&params), pkey_ctx_(std::move(pkey_ctx)), md_ctx_(std::move(md_ctx)) {}

  const EvpSignatureParams* params_;
  // EVP_MD_CTX_set_pkey_ctx (SM2) does not transfer ownership: the key context must outlive the
  // digest context, hence this member order (md_ctx_ is destroyed first).
  EvpPkeyCtxPtr pkey_ctx_;
  EvpMdCtxPtr md_ctx_;
};

// INVALID_ARGUMENT unless `signature` has a size a DER ECDSA-Sig-Value over a 256-bit curve (SM2,
// P-256) can have: 8 to 72 bytes. Cheap bounds ahead of the decoder; the encoding itself is checked
// by OpenSSL in EvpVerifyContext::Verify.
absl::Status CheckDerSignatureSize(absl::string_view algorithm_name, std::string_view signature);

}  // namespace nodegate::crypto::internal
