#include "crypto/evp_signature.h"

#include <openssl/ecdsa.h>
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

absl::Status EvpVerify(const EvpSignatureParams& params, EVP_PKEY* key, std::string_view signature,
                       std::string_view data) {
  auto ctx = NewContexts(params, key, "verify");
  if (!ctx.ok()) return ctx.status();
  if (EVP_DigestVerifyInit(ctx->md_ctx.get(), nullptr, params.md, nullptr, key) != 1) {
    return OpenSslError(
        absl::StrCat(params.algorithm_name, " verify: EVP_DigestVerifyInit failed"));
  }
  const int r = EVP_DigestVerify(
      ctx->md_ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(data.data()), data.size());
  if (r == 1) return absl::OkStatus();
  if (r == 0) {
    // A plain mismatch; drop whatever OpenSSL queued so it does not leak into a later message on
    // this thread.
    ERR_clear_error();
    return absl::UnauthenticatedError(absl::StrCat(params.algorithm_name, ": signature mismatch"));
  }
  // OpenSSL 3.0 returns -1 when it cannot decode the signature.
  return OpenSslError(absl::StrCat(params.algorithm_name, ": malformed signature"),
                      absl::StatusCode::kInvalidArgument);
}

absl::Status CheckDerEcdsaSignature(absl::string_view algorithm_name, std::string_view signature) {
  if (signature.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(algorithm_name, ": empty signature"));
  }
  // d2i takes a long length; a P-256/SM2 signature is at most 72 bytes.
  constexpr size_t kMaxDerSignature = 256;
  if (signature.size() > kMaxDerSignature) {
    return absl::InvalidArgumentError(absl::StrCat(algorithm_name, ": signature of ",
                                                   signature.size(),
                                                   " bytes is too long for a DER signature"));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(signature.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())));
  bool strict = false;
  if (sig) {
    const bool consumed_all =
        p == reinterpret_cast<const unsigned char*>(signature.data()) + signature.size();
    // Re-encoding must reproduce the input byte for byte, which rules out BER leniencies
    // (long-form lengths, padded integers) that d2i accepts.
    const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (consumed_all && len == static_cast<int>(signature.size())) {
      std::string reencoded(static_cast<size_t>(len), '\0');
      auto* out = reinterpret_cast<unsigned char*>(reencoded.data());
      strict = i2d_ECDSA_SIG(sig.get(), &out) == len && reencoded == signature;
    }
  }
  if (!strict) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        algorithm_name, ": signature is not a DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs)"));
  }
  return absl::OkStatus();
}

}  // namespace nodegate::crypto::internal
