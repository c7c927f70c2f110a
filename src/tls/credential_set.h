// A validated TLS identity + trust set, read from files. Validation is what makes hot reload safe:
// a set that fails here never reaches gRPC, and the previous one keeps serving.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pki/certificate_info.h"

namespace nodegate::tls {

// Paths as configured. `ca` and `crl` may be empty (absent).
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
  std::string crl;
};

struct CredentialSet {
  std::string cert_chain_pem;  // leaf first, then intermediates
  std::string key_pem;
  std::string ca_pem;   // empty when no CA is configured
  std::string crl_pem;  // empty when no CRL is configured
  pki::CertificateInfo leaf;
  std::string content_digest;  // SHA-256 over all four contents: equal digests mean equal sets
};

// Reads and validates: every file parses, the key matches the leaf certificate, the leaf is inside
// its validity at `now`, the chain verifies against the CA (when one is configured), and each CRL
// is signed by a configured CA. Errors name the config field and the file: "tls.key: /p/k.pem: …".
absl::StatusOr<CredentialSet> LoadCredentialSet(const TlsFiles& files, absl::Time now);

}  // namespace nodegate::tls
