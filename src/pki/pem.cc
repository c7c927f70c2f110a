#include "pki/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <ctime>

#include "absl/strings/str_cat.h"
#include "crypto/openssl_error.h"

namespace nodegate::pki {
namespace {

crypto::BioPtr MemBio(std::string_view pem) {
  return crypto::BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<std::string> BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len < 0) return absl::InternalError("BIO_get_mem_data failed");
  return std::string(data, static_cast<size_t>(len));
}

template <typename Fn>
absl::StatusOr<std::string> WritePem(std::string_view what, Fn write) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1)
    return crypto::OpenSslError(absl::StrCat("writing ", std::string(what)));
  return BioToString(bio.get());
}

bool IsNoMorePemError() {
  unsigned long err = ERR_peek_last_error();
  return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

}  // namespace

absl::StatusOr<std::vector<crypto::X509Ptr>> ParseCertificates(std::string_view pem,
                                                               std::string_view source) {
  ERR_clear_error();
  crypto::BioPtr bio = MemBio(pem);
  std::vector<crypto::X509Ptr> certs;
  for (;;) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    certs.emplace_back(cert);
  }
  if (!certs.empty() && IsNoMorePemError()) {
    ERR_clear_error();
    return certs;
  }
  if (certs.empty()) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": no PEM certificate found"));
  }
  return crypto::OpenSslError(
      absl::StrCat(std::string(source), ": certificate ", certs.size() + 1, " does not parse"),
      absl::StatusCode::kInvalidArgument);
}

absl::StatusOr<crypto::EvpPkeyPtr> ParsePrivateKey(std::string_view pem, std::string_view source) {
  ERR_clear_error();
  crypto::BioPtr bio = MemBio(pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    // Never echo the key material; OpenSSL's messages name only the failing step.
    return crypto::OpenSslError(absl::StrCat(std::string(source), ": not a PEM private key"),
                                absl::StatusCode::kInvalidArgument);
  }
  return crypto::EvpPkeyPtr(key);
}

absl::StatusOr<crypto::EvpPkeyPtr> ParsePublicKey(std::string_view pem, std::string_view source) {
  ERR_clear_error();
  crypto::BioPtr bio = MemBio(pem);
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return crypto::OpenSslError(absl::StrCat(std::string(source), ": not a PEM public key"),
                                absl::StatusCode::kInvalidArgument);
  }
  return crypto::EvpPkeyPtr(key);
}

absl::StatusOr<std::vector<crypto::X509CrlPtr>> ParseCrls(std::string_view pem,
                                                          std::string_view source) {
  ERR_clear_error();
  crypto::BioPtr bio = MemBio(pem);
  std::vector<crypto::X509CrlPtr> crls;
  for (;;) {
    X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
    if (crl == nullptr) break;
    crls.emplace_back(crl);
  }
  if (!crls.empty() && IsNoMorePemError()) {
    ERR_clear_error();
    return crls;
  }
  if (crls.empty()) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": no PEM CRL found"));
  }
  return crypto::OpenSslError(
      absl::StrCat(std::string(source), ": CRL ", crls.size() + 1, " does not parse"),
      absl::StatusCode::kInvalidArgument);
}

absl::StatusOr<crypto::X509ReqPtr> ParseCsr(std::string_view pem, std::string_view source) {
  ERR_clear_error();
  crypto::BioPtr bio = MemBio(pem);
  X509_REQ* req = PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr);
  if (req == nullptr) {
    return crypto::OpenSslError(
        absl::StrCat(std::string(source), ": not a PEM certificate request"),
        absl::StatusCode::kInvalidArgument);
  }
  return crypto::X509ReqPtr(req);
}

absl::StatusOr<std::string> CertificateToPem(X509* cert) {
  return WritePem("certificate", [&](BIO* b) { return PEM_write_bio_X509(b, cert); });
}
absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  return WritePem("private key", [&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}
absl::StatusOr<std::string> PublicKeyToPem(EVP_PKEY* key) {
  return WritePem("public key", [&](BIO* b) { return PEM_write_bio_PUBKEY(b, key); });
}
absl::StatusOr<std::string> CrlToPem(X509_CRL* crl) {
  return WritePem("CRL", [&](BIO* b) { return PEM_write_bio_X509_CRL(b, crl); });
}
absl::StatusOr<std::string> CsrToPem(X509_REQ* csr) {
  return WritePem("CSR", [&](BIO* b) { return PEM_write_bio_X509_REQ(b, csr); });
}

absl::StatusOr<absl::Time> Asn1TimeToAbsl(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return absl::InvalidArgumentError("invalid ASN.1 time");
  }
  return absl::FromTimeT(timegm(&tm));
}

}  // namespace nodegate::pki
