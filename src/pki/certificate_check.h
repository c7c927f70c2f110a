// `nodegate pki verify`: does a certificate chain to a CA, is it within its validity, does a key
// match it. Each check is reported on its own, so that the operator sees what holds and what not.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace nodegate::pki {

struct CertificateCheckInput {
  std::string cert_pem;  // leaf first; any further certificates are untrusted intermediates
  std::string cert_source;
  std::string ca_pem;  // trusted roots; empty = no chain check
  std::string ca_source;
  std::string key_pem;  // private key; empty = no key check
  std::string key_source;
  absl::Time now = absl::Now();
};

struct CertificateCheckResult {
  std::string what;  // "parses", "validity", "key matches", "chains to CA"
  absl::Status status;
};

// Every check that applies, in order; a certificate that does not parse ends the list there. Each
// failure's message names the file at fault and says why (OpenSSL's verify error for the chain).
std::vector<CertificateCheckResult> CheckCertificate(const CertificateCheckInput& input);

}  // namespace nodegate::pki
