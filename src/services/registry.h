// nodegate.v1.NodeRegistry: enrolment with one-time join tokens, certificate renewal, signing-key
// rotation with a grace period, and admin operations. Writes refresh the credential cache at once,
// so a disabled or removed node is refused by the very next call.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "nodegate/v1/registry.grpc.pb.h"
#include "pki/certificate_authority.h"
#include "store/credential_store.h"
#include "store/node_store.h"

namespace nodegate::services {

struct RegistryOptions {
  std::string node_id;  // this (the registry's) node
  std::string trust_domain = "nodegate.local";
  std::string ca_pem;   // trust bundle handed to joining nodes
  int cert_days = 365;
  absl::Duration key_grace = absl::Hours(24);
  std::string own_algorithm;  // this node's signing key, when it has one
  std::string own_public_key_pem;
};

class RegistryService final : public nodegate::v1::NodeRegistry::CallbackService {
 public:
  // `ca` may be null: AddNode and UploadCert then answer FAILED_PRECONDITION.
  RegistryService(RegistryOptions options, std::shared_ptr<store::NodeStore> nodes,
                  std::shared_ptr<store::CredentialStore> credentials,
                  std::shared_ptr<const pki::CertificateAuthority> ca,
                  auth::CredentialCache* cache, std::shared_ptr<const auth::Authorizer> authorizer);

  grpc::ServerUnaryReactor* GetTrustBundle(grpc::CallbackServerContext*,
                                           const nodegate::v1::GetTrustBundleRequest*,
                                           nodegate::v1::GetTrustBundleResponse*) override;
  grpc::ServerUnaryReactor* AddNode(grpc::CallbackServerContext*,
                                    const nodegate::v1::AddNodeRequest*,
                                    nodegate::v1::AddNodeResponse*) override;
  grpc::ServerUnaryReactor* UploadCert(grpc::CallbackServerContext*,
                                       const nodegate::v1::UploadCertRequest*,
                                       nodegate::v1::UploadCertResponse*) override;
  grpc::ServerUnaryReactor* KeypairSync(grpc::CallbackServerContext*,
                                        const nodegate::v1::KeypairSyncRequest*,
                                        nodegate::v1::KeypairSyncResponse*) override;
  grpc::ServerUnaryReactor* GetNode(grpc::CallbackServerContext*,
                                    const nodegate::v1::GetNodeRequest*,
                                    nodegate::v1::NodeInfo*) override;
  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext*,
                                      const nodegate::v1::ListNodesRequest*,
                                      nodegate::v1::ListNodesResponse*) override;
  grpc::ServerUnaryReactor* DisableNode(grpc::CallbackServerContext*,
                                        const nodegate::v1::DisableNodeRequest*,
                                        nodegate::v1::Empty*) override;
  grpc::ServerUnaryReactor* RemoveNode(grpc::CallbackServerContext*,
                                       const nodegate::v1::RemoveNodeRequest*,
                                       nodegate::v1::Empty*) override;

 private:
  grpc::Status DoAddNode(const nodegate::v1::AddNodeRequest& req,
                         nodegate::v1::AddNodeResponse* resp);
  absl::StatusOr<std::string> IssueNodeCert(const std::string& node_id, const std::string& csr);
  void Refresh();

  const RegistryOptions options_;
  std::shared_ptr<store::NodeStore> nodes_;
  std::shared_ptr<store::CredentialStore> credentials_;
  std::shared_ptr<const pki::CertificateAuthority> ca_;
  auth::CredentialCache* cache_;
  std::shared_ptr<const auth::Authorizer> authorizer_;
};

void ToNodeInfo(const store::NodeRecord& r, nodegate::v1::NodeInfo* out);

}  // namespace nodegate::services
