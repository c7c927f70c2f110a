// PEM parsing and serialisation of certificates, keys and CRLs. Every parse error names `source`
// (usually the file path) so that callers can pass the status straight to the user.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/openssl_ptr.h"

namespace nodegate::pki {

// Every certificate in `pem`, in order; an error if there is none or one does not parse.
absl::StatusOr<std::vector<crypto::X509Ptr>> ParseCertificates(std::string_view pem,
                                                               std::string_view source);
absl::StatusOr<crypto::EvpPkeyPtr> ParsePrivateKey(std::string_view pem, std::string_view source);
absl::StatusOr<crypto::EvpPkeyPtr> ParsePublicKey(std::string_view pem, std::string_view source);
// Every CRL in `pem` (a file may hold CRLs of several CAs).
absl::StatusOr<std::vector<crypto::X509CrlPtr>> ParseCrls(std::string_view pem,
                                                          std::string_view source);
absl::StatusOr<crypto::X509ReqPtr> ParseCsr(std::string_view pem, std::string_view source);

absl::StatusOr<std::string> CertificateToPem(X509* cert);
absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key);  // PKCS#8, unencrypted
absl::StatusOr<std::string> PublicKeyToPem(EVP_PKEY* key);   // SubjectPublicKeyInfo
absl::StatusOr<std::string> CrlToPem(X509_CRL* crl);
absl::StatusOr<std::string> CsrToPem(X509_REQ* csr);

// ASN.1 time → absl::Time.
absl::StatusOr<absl::Time> Asn1TimeToAbsl(const ASN1_TIME* t);

}  // namespace nodegate::pki
