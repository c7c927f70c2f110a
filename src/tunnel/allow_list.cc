#include "tunnel/allow_list.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nodegate::tunnel {
namespace {

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

absl::Status CheckAllowed(const AllowList& allow, const pki::CertificateInfo* peer,
                          std::string_view trust_domain) {
  if (allow.empty()) return absl::OkStatus();  // the CA is the allow-list
  if (peer == nullptr) {
    return absl::PermissionDeniedError("no client certificate, and an allow-list is configured");
  }
  if (!peer->common_name.empty() && Contains(allow.cns, peer->common_name)) {
    return absl::OkStatus();
  }
  std::string node_id = pki::NodeIdFromCertificate(*peer, trust_domain);
  if (!node_id.empty() && Contains(allow.node_ids, node_id)) return absl::OkStatus();
  for (const std::string& uri : peer->uris) {
    if (Contains(allow.uris, uri)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("identity not in the allow-list (", DescribeIdentity(peer, trust_domain), ")"));
}

std::string DescribeIdentity(const pki::CertificateInfo* peer, std::string_view trust_domain) {
  if (peer == nullptr) return "-";
  std::string out = absl::StrCat("cn=", peer->common_name.empty() ? "-" : peer->common_name,
                                 " node_id=", pki::NodeIdFromCertificate(*peer, trust_domain));
  if (!peer->uris.empty()) absl::StrAppend(&out, " uri=", absl::StrJoin(peer->uris, ","));
  absl::StrAppend(&out, " serial=", peer->serial_hex);
  return out;
}

}  // namespace nodegate::tunnel
