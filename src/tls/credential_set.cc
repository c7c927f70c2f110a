#include "tls/credential_set.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "crypto/openssl_ptr.h"
#include "pki/pem.h"

namespace nodegate::tls {
namespace {

absl::StatusOr<std::string> ReadField(std::string_view field, const std::string& path) {
  absl::StatusOr<std::string> content = base::ReadFile(path);
  if (!content.ok()) {
    return absl::Status(content.status().code(),
                        absl::StrCat(std::string(field), ": ", content.status().message()));
  }
  return content;
}

absl::Status Prefixed(std::string_view field, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(std::string(field), ": ", s.message()));
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

}  // namespace

absl::StatusOr<CredentialSet> LoadCredentialSet(const TlsFiles& files, absl::Time now) {
  CredentialSet set;
  absl::StatusOr<std::string> cert = ReadField("tls.cert", files.cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadField("tls.key", files.key);
  if (!key.ok()) return key.status();
  set.cert_chain_pem = *std::move(cert);
  set.key_pem = *std::move(key);
  if (!files.ca.empty()) {
    absl::StatusOr<std::string> ca = ReadField("tls.ca", files.ca);
    if (!ca.ok()) return ca.status();
    set.ca_pem = *std::move(ca);
  }
  if (!files.crl.empty()) {
    absl::StatusOr<std::string> crl = ReadField("tls.crl", files.crl);
    if (!crl.ok()) return crl.status();
    set.crl_pem = *std::move(crl);
  }

  auto chain = pki::ParseCertificates(set.cert_chain_pem, files.cert);
  if (!chain.ok()) return Prefixed("tls.cert", chain.status());
  auto pkey = pki::ParsePrivateKey(set.key_pem, files.key);
  if (!pkey.ok()) return Prefixed("tls.key", pkey.status());
  X509* leaf = chain->front().get();
  if (X509_check_private_key(leaf, pkey->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("tls.key: ", files.key, ": does not match the certificate in ", files.cert));
  }
  auto info = pki::DescribeCertificate(leaf);
  if (!info.ok()) return Prefixed("tls.cert", info.status());
  set.leaf = *std::move(info);
  if (now > set.leaf.not_after) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tls.cert: ", files.cert, ": certificate expired ",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", set.leaf.not_after, absl::UTCTimeZone())));
  }
  if (now < set.leaf.not_before) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tls.cert: ", files.cert, ": certificate not valid before ",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", set.leaf.not_before, absl::UTCTimeZone())));
  }

  if (!set.ca_pem.empty()) {
    auto roots = pki::ParseCertificates(set.ca_pem, files.ca);
    if (!roots.ok()) return Prefixed("tls.ca", roots.status());
    crypto::X509StorePtr store(X509_STORE_new());
    for (auto& root : *roots) X509_STORE_add_cert(store.get(), root.get());
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    for (size_t i = 1; i < chain->size(); ++i) sk_X509_push(untrusted, (*chain)[i].get());
    crypto::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted);
    X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(now));
    int ok = X509_verify_cert(ctx.get());
    int err = X509_STORE_CTX_get_error(ctx.get());
    sk_X509_free(untrusted);
    ERR_clear_error();
    if (ok != 1) {
      return absl::InvalidArgumentError(absl::StrCat("tls.cert: ", files.cert,
                                                     ": does not verify against tls.ca ", files.ca,
                                                     ": ", X509_verify_cert_error_string(err)));
    }
    if (!set.crl_pem.empty()) {
      auto crls = pki::ParseCrls(set.crl_pem, files.crl);
      if (!crls.ok()) return Prefixed("tls.crl", crls.status());
      for (auto& crl : *crls) {
        bool signed_by_ca = false;
        for (auto& root : *roots) {
          if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(root.get())) ==
                  0 &&
              X509_CRL_verify(crl.get(), X509_get0_pubkey(root.get())) == 1) {
            signed_by_ca = true;
            break;
          }
        }
        ERR_clear_error();
        if (!signed_by_ca) {
          return absl::InvalidArgumentError(absl::StrCat(
              "tls.crl: ", files.crl, ": a CRL is not signed by any CA in tls.ca ", files.ca));
        }
        // OpenSSL refuses every certificate of a CA whose CRL is past nextUpdate (verify error
        // 12): serving with it would lock out all of that CA's clients, so it never goes live.
        const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
        absl::StatusOr<absl::Time> next_update =
            next != nullptr ? pki::Asn1TimeToAbsl(next)
                            : absl::StatusOr<absl::Time>(absl::InfiniteFuture());
        if (next_update.ok() && now >= *next_update) {
          return absl::FailedPreconditionError(absl::StrCat(
              "tls.crl: ", files.crl, ": CRL expired ",
              absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *next_update, absl::UTCTimeZone()),
              " (renew it: nodegate pki crl --dir <ca dir>)"));
        }
      }
    }
  } else if (!set.crl_pem.empty()) {
    return absl::InvalidArgumentError("tls.crl: set, but tls.ca is empty (a CRL needs its CA)");
  }

  set.content_digest = Sha256Hex(absl::StrCat(Sha256Hex(set.cert_chain_pem), Sha256Hex(set.key_pem),
                                              Sha256Hex(set.ca_pem), Sha256Hex(set.crl_pem)));
  return set;
}

}  // namespace nodegate::tls
