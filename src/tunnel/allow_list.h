// Which verified client certificates a tunnel server lets through.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "pki/certificate_info.h"

namespace nodegate::tunnel {

// Three lists, matched exactly, or `all`. Semantics (fail closed, stated where it is declared):
//  - `all` (allow_all = true, --allow-all): any certificate that verifies against the configured
//    CA (and is not revoked by the CRL) is allowed — the CA is the allow-list. It must be said:
//    a tunnel server with neither `all` nor a list does not start (ghostunnel's rule), so that
//    a forgotten flag never opens a backend to the whole CA;
//  - any list given: only certificates matching at least one entry of any given list are allowed
//    (OR across lists); a certificate that matches none is refused, and so is a client with no
//    certificate at all.
// The config file refuses an explicitly empty list (`allow_cn = []`), so that "empty" can never be
// read as "nobody" by one reader and "anybody" by another.
struct AllowList {
  std::vector<std::string> cns;  // subject common names
  std::vector<std::string>
      node_ids;                   // pki::NodeIdFromCertificate (spiffe URI's last segment, else CN)
  std::vector<std::string> uris;  // URI SANs, e.g. spiffe://nodegate.local/node/web-1

  bool all = false;  // every client the CA verifies; exclusive with the lists

  bool empty() const { return cns.empty() && node_ids.empty() && uris.empty(); }
};

// A tunnel server's allow-list is usable: `all` or at least one list, not both. INVALID_ARGUMENT
// naming both spellings (config key and flag) otherwise.
absl::Status ValidateAllowList(const AllowList& allow);

// OK when `peer` may pass; PERMISSION_DENIED naming the identity otherwise. `peer` is null when the
// client presented no certificate.
absl::Status CheckAllowed(const AllowList& allow, const pki::CertificateInfo* peer,
                          std::string_view trust_domain);

// "cn=web-1 node_id=web-1 uri=spiffe://…" for log lines; "-" without a certificate.
std::string DescribeIdentity(const pki::CertificateInfo* peer, std::string_view trust_domain);

}  // namespace nodegate::tunnel
