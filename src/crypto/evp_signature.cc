#include "crypto/evp_signature.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"
#include "crypto/openssl_error.h"
#include "crypto/openssl_ptr.h"

namespace nodegate::crypto::internal {
namespace {

// A digest context plus the key context attached to it. EVP_MD_CTX_set_pkey_ctx does not transfer
// ownership, so the key context must outlive the digest context: members are destroyed in reverse
// order, md_ctx first.
struct DigestContexts {
  EvpPkeyCtxPtr pkey_ctx;
  EvpMdCtxPtr md_ctx;
};

absl::StatusOr<DigestContexts> NewContexts(const EvpSignatureParams& params, EVP_PKEY* key,
                                           absl::string_view op) {
  DigestContexts ctx;
  ctx.md_ctx.reset(EVP_MD_CTX_new());
  if (!ctx.md_ctx)
    return OpenSslError(absl::StrCat(params.algorithm_name, " ", op, ": EVP_MD_CTX_new failed"));
  if (params.sm2_distinguishing_id.has_value()) {
    ctx.pkey_ctx.reset(EVP_PKEY_CTX_new(key, nullptr));
    if (!ctx.pkey_ctx) {
      return OpenSslError(
          absl::StrCat(params.algorithm_name, " ", op, ": EVP_PKEY_CTX_new failed"));
    }
    const std::string_view id = *params.sm2_distinguishing_id;
    if (EVP_PKEY_CTX_set1_id(ctx.pkey_ctx.get(), id.data(), static_cast<int>(id.size())) <= 0) {
      return OpenSslError(
          absl::StrCat(params.algorithm_name, " ", op, ": setting the distinguishing ID failed"));
    }
    EVP_MD_CTX_set_pkey_ctx(ctx.md_ctx.get(), ctx.pkey_ctx.get());
  }
  return ctx;
}

}  // namespace

absl::StatusOr<std::string> EvpSign(const EvpSignatureParams& params, EVP_PKEY* key,
                                    std::string_view data) {
  auto ctx = NewContexts(params, key, "sign");
  if (!ctx.ok()) return ctx.status();
  if (EVP_DigestSignInit(ctx->md_ctx.get(), nullptr, params.md, nullptr, key) != 1) {
    return OpenSslError(absl::StrCat(params.algorithm_name, " sign: EVP_DigestSignInit failed"));
  }
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  size_t len = 0;
  if (EVP_DigestSign(ctx->md_ctx.get(), nullptr, &len, in, data.size()) != 1) {
    return OpenSslError(absl::StrCat(params.algorithm_name, " sign: sizing the signature failed"));
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx->md_ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     in, data.size()) != 1) {
    return OpenSslError(absl::StrCat(params.algorithm_name, " sign: EVP_DigestSign failed"));
  }
  signature.resize(len);  // DER signatures are often shorter than the maximum.
  return signature;
}

absl::StatusOr<EvpVerifyContext> EvpVerifyContext::New(const EvpSignatureParams& params,
                                                       EVP_PKEY* key) {
  auto ctx = NewContexts(params, key, "verify");
  if (!ctx.ok()) return ctx.status();
  // Verify's copies inherit this flag: their final step may consume the context instead of first
  // duplicating it to keep it reusable (which OpenSSL 3.0 does by default).
  EVP_MD_CTX_set_flags(ctx->md_ctx.get(), EVP_MD_CTX_FLAG_FINALISE);
  if (EVP_DigestVerifyInit(ctx->md_ctx.get(), nullptr, params.md, nullptr, key) != 1) {
    return OpenSslError(
        absl::StrCat(params.algorithm_name, " verify: EVP_DigestVerifyInit failed"));
  }
  // Feeding nothing makes SM2 hash its Z_A (ID, curve and key) into the prepared state, so that no
  // copy computes it again; for ECDSA it is a no-op. Ed25519 has no digest and no update step.
  if (params.md != nullptr && EVP_DigestVerifyUpdate(ctx->md_ctx.get(), nullptr, 0) != 1) {
    return OpenSslError(
        absl::StrCat(params.algorithm_name, " verify: preparing the digest failed"));
  }
  return EvpVerifyContext(params, std::move(ctx->pkey_ctx), std::move(ctx->md_ctx));
}

absl::Status EvpVerifyContext::Verify(std::string_view signature, std::string_view data) const {
  const absl::string_view name = params_->algorithm_name;
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_MD_CTX_copy_ex(ctx.get(), md_ctx_.get()) != 1) {
    return OpenSslError(absl::StrCat(name, " verify: copying the prepared context failed"));
  }
  const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  int r = 0;
  if (params_->md == nullptr) {
    r = EVP_DigestVerify(ctx.get(), sig, signature.size(), in, data.size());  // one-shot only
  } else if (EVP_DigestVerifyUpdate(ctx.get(), in, data.size()) != 1) {
    return OpenSslError(absl::StrCat(name, " verify: EVP_DigestVerifyUpdate failed"));
  } else {
    r = EVP_DigestVerifyFinal(ctx.get(), sig, signature.size());
  }
  if (r == 1) return absl::OkStatus();
  if (r == 0) {
    // A plain mismatch; drop whatever OpenSSL queued so it does not leak into a later message on
    // this thread.
    ERR_clear_error();
    return absl::UnauthenticatedError(absl::StrCat(name, ": signature mismatch"));
  }
  // OpenSSL 3.0 returns -1 when it cannot decode the signature, or when its DER is not strict.
  return OpenSslError(absl::StrCat(name, ": malformed signature"),
                      absl::StatusCode::kInvalidArgument);
}

absl::Status CheckDerSignatureSize(absl::string_view algorithm_name, std::string_view signature) {
  // SEQUENCE { INTEGER r, INTEGER s }: 2 header bytes, and per INTEGER 2 header bytes plus 1 to 33
  // content bytes (32 for the value, 1 for a sign byte when its top bit is set).
  constexpr size_t kMinDerSignature = 2 + 2 * (2 + 1);
  constexpr size_t kMaxDerSignature = 2 + 2 * (2 + 33);
  if (signature.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(algorithm_name, ": empty signature"));
  }
  if (signature.size() < kMinDerSignature || signature.size() > kMaxDerSignature) {
    return absl::InvalidArgumentError(absl::StrCat(
        algorithm_name, ": signature of ", signature.size(), " bytes; a DER ECDSA-Sig-Value takes ",
        kMinDerSignature, " to ", kMaxDerSignature));
  }
  return absl::OkStatus();
}

}  // namespace nodegate::crypto::internal
