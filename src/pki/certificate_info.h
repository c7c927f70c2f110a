// What `nodegate pki inspect` and the TLS layer show about a certificate.
#pragma once

#include <openssl/x509.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nodegate::pki {

struct CertificateInfo {
  std::string subject;            // RFC 2253
  std::string issuer;             // RFC 2253
  std::string common_name;        // empty when the subject has none
  std::string serial_hex;         // uppercase, no colons (as `openssl x509 -serial`)
  std::vector<std::string> sans;  // "DNS:…", "IP:…", "URI:…", "email:…"
  std::vector<std::string> uris;  // URI SANs only
  absl::Time not_before;
  absl::Time not_after;
  std::string key_type;            // see DescribeKey
  std::string sha256_fingerprint;  // lowercase hex of SHA-256 over the DER certificate
  bool is_ca = false;
  // keyUsage bits by their RFC 5280 names (digitalSignature, keyEncipherment, keyCertSign,
  // cRLSign, …); empty when the extension is absent (any use allowed).
  std::vector<std::string> key_usage;
  // extendedKeyUsage purposes: serverAuth, clientAuth, … (short names; an OID when OpenSSL has
  // none); empty when the extension is absent.
  std::vector<std::string> extended_key_usage;
};

// What `nodegate pki inspect` shows about a CRL.
struct CrlInfo {
  std::string issuer;  // RFC 2253
  absl::Time last_update;
  absl::Time next_update = absl::InfinitePast();  // InfinitePast: the CRL has no nextUpdate
  std::vector<std::string> revoked_serials;       // uppercase hex, in CRL order
};

absl::StatusOr<CertificateInfo> DescribeCertificate(X509* cert);
// Whether `cert` names `host` as a TLS client checks it: an IP literal against its IP SANs, a name
// against its DNS SANs (a "*." wildcard covers one label), by OpenSSL's X509_check_ip_asc and
// X509_check_host — the checks gRPC's and our own clients run.
bool CertificateNamesHost(X509* cert, const std::string& host);

// True for "0.0.0.0", "::", "*" and "": a listener bound to every address, named by no one host.
bool IsWildcardHost(const std::string& host);

// The first certificate in `pem`.
absl::StatusOr<CertificateInfo> InspectCertificatePem(std::string_view pem,
                                                      std::string_view source);

// The first CRL in `pem`.
absl::StatusOr<CrlInfo> InspectCrlPem(std::string_view pem, std::string_view source);

// The subject CN of the certificate request in `pem` (empty when it has none); the CSR's own
// signature is not checked here (CertificateAuthority::SignCsr does).
absl::StatusOr<std::string> CsrCommonName(std::string_view pem, std::string_view source);

// The node id a client certificate names: the last path segment of a URI SAN
// spiffe://<trust_domain>/node/<id>, else the subject CN. Empty when neither exists.
std::string NodeIdFromCertificate(const CertificateInfo& info, std::string_view trust_domain);

}  // namespace nodegate::pki
