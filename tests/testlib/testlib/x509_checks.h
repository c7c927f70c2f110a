// OpenSSL cross-checks that do not go through the code under test: PEM parsing, X509_verify_cert,
// serials and CRL lookups straight from the OpenSSL API.
#pragma once

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <string>
#include <string_view>

#include "crypto/openssl_ptr.h"

namespace nodegate::testlib {

// The first certificate / private key / CRL in `pem`, parsed with OpenSSL; null if there is none.
crypto::X509Ptr ParseX509(std::string_view pem);
crypto::EvpPkeyPtr ParseKey(std::string_view pem);
crypto::X509CrlPtr ParseCrl(std::string_view pem);

// X509_verify_cert of `cert_pem` against the single root `ca_pem`: X509_V_OK or the error code.
// `purpose` is an X509_PURPOSE_* (0 = any), so EKU is checked the way a TLS stack checks it.
int VerifyError(std::string_view ca_pem, std::string_view cert_pem, int purpose = 0);

// The serial of a certificate as uppercase hex (the form `openssl x509 -serial` prints).
std::string SerialHex(X509* cert);

// Whether `serial_hex` is listed in `crl`.
bool CrlLists(X509_CRL* crl, const std::string& serial_hex);

// Entries in `crl` (X509_CRL_get_REVOKED is null, not empty, for a CRL without any).
int RevokedCount(X509_CRL* crl);

}  // namespace nodegate::testlib
