// nodegate.v1.NodeRegistry: enrolment with one-time join tokens, certificate renewal, signing-key
// rotation with a grace period, and admin operations. Writes refresh the credential cache at once,
// so a disabled or removed node is refused by the very next call.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/credential_cache.h"
#include "nodegate/v1/registry.pb.h"
#include "pki/certificate_authority.h"
#include "rpc/method_table.h"
#include "store/credential_store.h"
#include "store/node_store.h"

namespace nodegate::services {

struct RegistryOptions {
  std::string node_id;  // this (the registry's) node
  std::string trust_domain = "nodegate.local";
  std::string ca_pem;  // trust bundle handed to joining nodes
  int cert_days = 365;
  absl::Duration key_grace = absl::Hours(24);
  std::string own_algorithm;  // this node's signing key, when it has one
  std::string own_public_key_pem;
};

class RegistryService {
 public:
  // `ca` may be null: AddNode and UploadCert then answer FAILED_PRECONDITION.
  RegistryService(RegistryOptions options, std::shared_ptr<store::NodeStore> nodes,
                  std::shared_ptr<store::CredentialStore> credentials,
                  std::shared_ptr<const pki::CertificateAuthority> ca,
                  auth::CredentialCache* cache);

  // Adds nodegate.v1.NodeRegistry's methods to `table`.
  void Register(rpc::MethodTable& table);

  absl::Status GetTrustBundle(const rpc::CallInfo& call,
                              const nodegate::v1::GetTrustBundleRequest& request,
                              nodegate::v1::GetTrustBundleResponse* response);
  absl::Status AddNode(const rpc::CallInfo& call, const nodegate::v1::AddNodeRequest& request,
                       nodegate::v1::AddNodeResponse* response);
  // Renews the calling node's certificate; call.principal must be an enabled node.
  absl::Status UploadCert(const rpc::CallInfo& call, const nodegate::v1::UploadCertRequest& request,
                          nodegate::v1::UploadCertResponse* response);
  // The enabled peers, after rotating the caller's signing key when the request carries a new
  // one; call.principal must be a node that signed the call.
  absl::Status KeypairSync(const rpc::CallInfo& call,
                           const nodegate::v1::KeypairSyncRequest& request,
                           nodegate::v1::KeypairSyncResponse* response);
  absl::Status GetNode(const rpc::CallInfo& call, const nodegate::v1::GetNodeRequest& request,
                       nodegate::v1::NodeInfo* response);
  absl::Status ListNodes(const rpc::CallInfo& call, const nodegate::v1::ListNodesRequest& request,
                         nodegate::v1::ListNodesResponse* response);
  absl::Status DisableNode(const rpc::CallInfo& call,
                           const nodegate::v1::DisableNodeRequest& request,
                           nodegate::v1::Empty* response);
  absl::Status RemoveNode(const rpc::CallInfo& call, const nodegate::v1::RemoveNodeRequest& request,
                          nodegate::v1::Empty* response);

 private:
  absl::StatusOr<std::string> IssueNodeCert(const std::string& node_id, const std::string& csr);
  void Refresh();

  const RegistryOptions options_;
  std::shared_ptr<store::NodeStore> nodes_;
  std::shared_ptr<store::CredentialStore> credentials_;
  std::shared_ptr<const pki::CertificateAuthority> ca_;
  auth::CredentialCache* cache_;
};

void ToNodeInfo(const store::NodeRecord& r, nodegate::v1::NodeInfo* out);

}  // namespace nodegate::services
