// A certificate authority held in memory: creates itself, issues server/client certificates, signs
// CSRs and CRLs. Uses the OpenSSL X509 API directly (never the openssl CLI).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/openssl_ptr.h"
#include "pki/key_type.h"

namespace nodegate::pki {

// How long a CRL written by nodegate is valid (its nextUpdate) unless told otherwise: `nodegate
// init`, `nodegate pki crl` and the CRL `pki revoke` rewrites all use it (docs/pki.md). An expired
// CRL makes the node refuse every client of its CA, so it is long and renewed by hand; the revoked
// serials in it take effect as soon as the node reloads the file, whatever its nextUpdate.
inline constexpr absl::Duration kDefaultCrlValidity = absl::Hours(24 * 365);

struct PemPair {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8; write it with mode 0600
};

struct CaOptions {
  KeyType key_type = KeyType::kEcdsaP256;
  std::string common_name = "nodegate CA";
  absl::Duration validity = absl::Hours(24 * 3650);
};

struct IssueOptions {
  std::string common_name;        // required
  bool server = false;            // extendedKeyUsage serverAuth
  bool client = false;            // extendedKeyUsage clientAuth; at least one of the two
  std::vector<std::string> sans;  // each an IP address, a URI (contains "://") or a DNS name
  std::string node_id;            // adds URI SAN spiffe://<trust_domain>/node/<node_id> when set
  std::string trust_domain = "nodegate.local";
  KeyType key_type = KeyType::kEcdsaP256;
  absl::Time not_before = absl::InfinitePast();  // InfinitePast = now - 5 minutes (clock skew)
  absl::Time not_after = absl::InfinitePast();   // InfinitePast = not_before + validity
  absl::Duration validity = absl::Hours(24 * 365);
};

class CertificateAuthority {
 public:
  // Creates a new self-signed CA.
  static absl::StatusOr<PemPair> Create(const CaOptions& options);
  // Loads a CA from its certificate and key; the key must match and the cert must be a CA.
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> Load(std::string_view cert_pem,
                                                                    std::string_view key_pem);

  // A fresh key pair and a certificate for it.
  absl::StatusOr<PemPair> Issue(const IssueOptions& options) const;
  // A certificate for the public key in `csr_pem` (its signature is checked); subject and SANs
  // come from `options`, never from the CSR, so a requester cannot ask for another identity.
  absl::StatusOr<std::string> SignCsr(std::string_view csr_pem, const IssueOptions& options) const;
  // A CRL (v2) listing `revoked_serials_hex`, valid from now for `validity` (positive, else
  // INVALID_ARGUMENT: a CRL whose nextUpdate has passed would refuse every client).
  absl::StatusOr<std::string> MakeCrl(const std::vector<std::string>& revoked_serials_hex,
                                      absl::Duration validity = kDefaultCrlValidity) const;

  // OK when the first certificate in `cert_pem` was signed by this CA; INVALID_ARGUMENT naming
  // `source` otherwise.
  absl::Status CheckIssued(std::string_view cert_pem, std::string_view source) const;

  const std::string& cert_pem() const { return cert_pem_; }

 private:
  CertificateAuthority(crypto::X509Ptr cert, crypto::EvpPkeyPtr key, std::string cert_pem)
      : cert_(std::move(cert)), key_(std::move(key)), cert_pem_(std::move(cert_pem)) {}
  absl::StatusOr<std::string> IssueFor(EVP_PKEY* subject_key, const IssueOptions& options) const;

  crypto::X509Ptr cert_;
  crypto::EvpPkeyPtr key_;
  std::string cert_pem_;
};

// A PEM certificate request for `key`, signed by it, with subject CN=`common_name`. (The CA ignores
// the subject when it signs: identity comes from the registry, not from the requester.)
absl::StatusOr<std::string> MakeCsr(EVP_PKEY* key, const std::string& common_name);

// Random positive 128-bit serial, as uppercase hex.
absl::StatusOr<crypto::Asn1IntegerPtr> RandomSerial();

}  // namespace nodegate::pki
