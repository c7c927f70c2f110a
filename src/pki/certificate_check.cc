#include "pki/certificate_check.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "absl/strings/str_cat.h"
#include "crypto/openssl_ptr.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"

namespace nodegate::pki {
namespace {

std::string Format(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace

std::vector<CertificateCheckResult> CheckCertificate(const CertificateCheckInput& in) {
  std::vector<CertificateCheckResult> out;
  absl::StatusOr<std::vector<crypto::X509Ptr>> certs =
      ParseCertificates(in.cert_pem, in.cert_source);
  out.push_back({"parses", certs.status()});
  if (!certs.ok()) return out;
  X509* leaf = certs->front().get();

  absl::StatusOr<CertificateInfo> info = DescribeCertificate(leaf);
  if (!info.ok()) {
    out.push_back({"validity", info.status()});
  } else if (in.now < info->not_before) {
    out.push_back(
        {"validity", absl::FailedPreconditionError(absl::StrCat(
                         in.cert_source, ": not valid before ", Format(info->not_before)))});
  } else if (in.now > info->not_after) {
    out.push_back({"validity", absl::FailedPreconditionError(absl::StrCat(
                                   in.cert_source, ": expired ", Format(info->not_after)))});
  } else {
    out.push_back({"validity", absl::OkStatus()});
  }

  if (!in.key_pem.empty()) {
    absl::StatusOr<crypto::EvpPkeyPtr> key = ParsePrivateKey(in.key_pem, in.key_source);
    absl::Status s = key.status();
    if (key.ok() && X509_check_private_key(leaf, key->get()) != 1) {
      s = absl::FailedPreconditionError(
          absl::StrCat(in.key_source, ": is not the key of ", in.cert_source,
                       " (its public key differs from the certificate's)"));
    }
    ERR_clear_error();
    out.push_back({"key matches", s});
  }

  if (!in.ca_pem.empty()) {
    absl::StatusOr<std::vector<crypto::X509Ptr>> roots = ParseCertificates(in.ca_pem, in.ca_source);
    if (!roots.ok()) {
      out.push_back({"chains to CA", roots.status()});
      return out;
    }
    crypto::X509StorePtr store(X509_STORE_new());
    for (const crypto::X509Ptr& r : *roots) X509_STORE_add_cert(store.get(), r.get());
    STACK_OF(X509)* chain = sk_X509_new_null();
    for (size_t i = 1; i < certs->size(); ++i) sk_X509_push(chain, (*certs)[i].get());
    crypto::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    absl::Status s = absl::OkStatus();
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, chain) != 1) {
      s = absl::InternalError("cannot set up certificate verification");
    } else {
      // Validity is its own check above; here only the signatures and CA constraints.
      X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
      if (X509_verify_cert(ctx.get()) != 1) {
        const int err = X509_STORE_CTX_get_error(ctx.get());
        s = absl::FailedPreconditionError(
            absl::StrCat(in.cert_source, ": does not chain to ", in.ca_source, ": ",
                         X509_verify_cert_error_string(err), " (X509 error ", err, ")"));
      }
    }
    sk_X509_free(chain);  // the certificates belong to `certs`
    ERR_clear_error();
    out.push_back({"chains to CA", s});
  }
  return out;
}

}  // namespace nodegate::pki
