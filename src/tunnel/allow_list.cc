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

absl::Status ValidateAllowList(const AllowList& allow) {
  if (allow.all && !allow.empty()) {
    return absl::InvalidArgumentError(
        "allow_all (--allow-all) and an allow_cn/allow_node_id/allow_uri list together: keep one");
  }
  if (!allow.all && allow.empty()) {
    return absl::InvalidArgumentError(
        "no allow-list: name who may pass with allow_cn, allow_node_id or allow_uri (--allow-cn, "
        "--allow-node-id, --allow-uri), or set allow_all = true (--allow-all) to let every client "
        "the CA verifies through");
  }
  return absl::OkStatus();
}

absl::Status CheckAllowed(const AllowList& allow, const pki::CertificateInfo* peer,
                          std::string_view trust_domain) {
  if (allow.all) return absl::OkStatus();  // the CA is the allow-list
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
