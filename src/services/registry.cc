#include "services/registry.h"

#include "absl/strings/str_cat.h"
#include "auth/call_principal.h"
#include "auth/signature_v1.h"
#include "crypto/digest.h"
#include "crypto/signer_factory.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"
#include "services/status.h"
#include "spdlog/spdlog.h"

namespace nodegate::services {
namespace {

grpc::Status Invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

// One answer for every bad token, so a caller learns nothing about which tokens exist.
const grpc::Status kBadJoinToken(grpc::StatusCode::UNAUTHENTICATED,
                                 "join token: invalid, used or expired");

}  // namespace

void ToNodeInfo(const store::NodeRecord& r, nodegate::v1::NodeInfo* out) {
  out->set_id(r.id);
  out->set_algorithm(r.algorithm);
  out->set_public_key_pem(r.public_key_pem);
  for (const std::string& role : r.roles) out->add_roles(role);
  out->set_enabled(r.enabled);
  out->set_cert_serial(r.cert_serial);
  out->set_created_unix_ms(absl::ToUnixMillis(r.created_at));
  out->set_updated_unix_ms(absl::ToUnixMillis(r.updated_at));
}

RegistryService::RegistryService(RegistryOptions options, std::shared_ptr<store::NodeStore> nodes,
                                 std::shared_ptr<store::CredentialStore> credentials,
                                 std::shared_ptr<const pki::CertificateAuthority> ca,
                                 auth::CredentialCache* cache,
                                 std::shared_ptr<const auth::Authorizer> authorizer)
    : options_(std::move(options)),
      nodes_(std::move(nodes)),
      credentials_(std::move(credentials)),
      ca_(std::move(ca)),
      cache_(cache),
      authorizer_(std::move(authorizer)) {}

void RegistryService::Refresh() {
  if (absl::Status s = cache_->Refresh(/*force=*/true); !s.ok()) {
    spdlog::error("registry: credential cache refresh failed: {}", std::string(s.message()));
  }
}

absl::StatusOr<std::string> RegistryService::IssueNodeCert(const std::string& node_id,
                                                           const std::string& csr) {
  pki::IssueOptions o;
  o.common_name = node_id;
  o.client = true;
  o.node_id = node_id;
  o.trust_domain = options_.trust_domain;
  o.validity = absl::Hours(24) * options_.cert_days;
  return ca_->SignCsr(csr, o);
}

grpc::ServerUnaryReactor* RegistryService::GetTrustBundle(
    grpc::CallbackServerContext* context, const nodegate::v1::GetTrustBundleRequest*,
    nodegate::v1::GetTrustBundleResponse* response) {
  response->set_ca_pem(options_.ca_pem);
  response->set_registry_node_id(options_.node_id);
  return Finish(context, grpc::Status::OK);
}

grpc::Status RegistryService::DoAddNode(const nodegate::v1::AddNodeRequest& req,
                                        nodegate::v1::AddNodeResponse* resp) {
  if (ca_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this node holds no CA (registry.ca_cert/ca_key): it cannot enrol nodes");
  }
  // Everything that can be checked without touching state is checked first, so a bad request
  // neither burns the token nor leaves anything in the registry.
  if (req.join_token().empty() || req.join_token().size() > 1024) return kBadJoinToken;
  if (!auth::sigv1::IsValidNodeId(req.node_id())) {
    return Invalid("node_id: must be [A-Za-z0-9._-]{1,128}");
  }
  absl::StatusOr<crypto::Algorithm> alg = crypto::ParseAlgorithm(req.algorithm());
  if (!alg.ok()) return Invalid(absl::StrCat("algorithm: ", alg.status().message()));
  absl::StatusOr<std::unique_ptr<crypto::Verifier>> verifier =
      crypto::NewVerifier(*alg, req.public_key_pem());
  if (!verifier.ok()) return Invalid(absl::StrCat("public_key_pem: ", verifier.status().message()));
  absl::StatusOr<crypto::X509ReqPtr> csr = pki::ParseCsr(req.csr_pem(), "csr_pem");
  if (!csr.ok()) return Invalid(std::string(csr.status().message()));

  const std::string hash = crypto::Sha256Hex(req.join_token());
  absl::StatusOr<std::vector<store::JoinToken>> tokens = credentials_->ListJoinTokens();
  if (!tokens.ok()) return ToGrpc(tokens.status());
  const store::JoinToken* token = nullptr;
  for (const store::JoinToken& t : *tokens) {
    if (t.token_hash == hash) token = &t;
  }
  absl::Time now = absl::Now();
  if (token == nullptr || token->used_at != absl::InfinitePast() || now >= token->expires_at) {
    return kBadJoinToken;
  }
  if (token->node_id != req.node_id()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "join token: issued for another node id");
  }
  if (absl::StatusOr<store::NodeRecord> existing = nodes_->Get(req.node_id()); existing.ok()) {
    return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "node_id: already registered");
  }
  absl::StatusOr<std::string> cert = IssueNodeCert(req.node_id(), req.csr_pem());
  if (!cert.ok()) return Invalid(std::string(cert.status().message()));
  absl::StatusOr<pki::CertificateInfo> info = pki::InspectCertificatePem(*cert, "issued");
  if (!info.ok()) return ToGrpc(info.status());

  // The token is spent atomically; a concurrent second use fails here.
  absl::StatusOr<store::JoinToken> used = credentials_->ConsumeJoinToken(hash, now);
  if (!used.ok()) return kBadJoinToken;
  store::NodeRecord r;
  r.id = req.node_id();
  r.algorithm = req.algorithm();
  r.public_key_pem = req.public_key_pem();
  r.roles = used->roles;
  r.enabled = true;
  r.cert_serial = info->serial_hex;
  absl::StatusOr<store::NodeRecord> created = nodes_->Create(r);
  if (!created.ok()) return ToGrpc(created.status());
  Refresh();
  spdlog::info("registry: node {} joined ({}, cert serial {})", r.id, r.algorithm,
               info->serial_hex);
  resp->set_cert_pem(*cert);
  resp->set_ca_pem(options_.ca_pem);
  resp->set_registry_node_id(options_.node_id);
  resp->set_registry_algorithm(options_.own_algorithm);
  resp->set_registry_public_key_pem(options_.own_public_key_pem);
  for (const std::string& role : r.roles) resp->add_roles(role);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* RegistryService::AddNode(grpc::CallbackServerContext* context,
                                                   const nodegate::v1::AddNodeRequest* request,
                                                   nodegate::v1::AddNodeResponse* response) {
  return Finish(context, DoAddNode(*request, response));
}

grpc::ServerUnaryReactor* RegistryService::UploadCert(
    grpc::CallbackServerContext* context, const nodegate::v1::UploadCertRequest* request,
    nodegate::v1::UploadCertResponse* response) {
  if (ca_ == nullptr) {
    return Finish(context, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                      "this node holds no CA: it cannot issue certificates"));
  }
  auth::Principal p =
      auth::CallPrincipal(*authorizer_, *context, "/nodegate.v1.NodeRegistry/UploadCert");
  if (p.kind != auth::Principal::Kind::kNode) {
    return Finish(context, grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                      "UploadCert: only a node may renew its certificate"));
  }
  absl::StatusOr<store::NodeRecord> node = nodes_->Get(p.id);
  if (!node.ok() || !node->enabled) {
    return Finish(context, grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                      "UploadCert: node not registered or disabled"));
  }
  absl::StatusOr<std::string> cert = IssueNodeCert(p.id, request->csr_pem());
  if (!cert.ok()) return Finish(context, Invalid(std::string(cert.status().message())));
  absl::StatusOr<pki::CertificateInfo> info = pki::InspectCertificatePem(*cert, "issued");
  if (info.ok()) {
    node->cert_serial = info->serial_hex;
    (void)nodes_->Update(*node);
  }
  response->set_cert_pem(*cert);
  response->set_ca_pem(options_.ca_pem);
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RegistryService::KeypairSync(
    grpc::CallbackServerContext* context, const nodegate::v1::KeypairSyncRequest* request,
    nodegate::v1::KeypairSyncResponse* response) {
  auth::Principal p =
      auth::CallPrincipal(*authorizer_, *context, "/nodegate.v1.NodeRegistry/KeypairSync");
  if (p.kind != auth::Principal::Kind::kNode || !(p.authenticators & auth::kSignature)) {
    return Finish(context, grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                      "KeypairSync: needs a signature by the node's current key"));
  }
  if (!request->new_public_key_pem().empty()) {
    absl::StatusOr<crypto::Algorithm> alg = crypto::ParseAlgorithm(request->new_algorithm());
    if (!alg.ok()) {
      return Finish(context, Invalid(absl::StrCat("new_algorithm: ", alg.status().message())));
    }
    auto verifier = crypto::NewVerifier(*alg, request->new_public_key_pem());
    if (!verifier.ok()) {
      return Finish(context,
                  Invalid(absl::StrCat("new_public_key_pem: ", verifier.status().message())));
    }
    absl::Time until = absl::Now() + options_.key_grace;
    absl::StatusOr<store::NodeRecord> r = nodes_->RotateKey(
        p.id, request->new_algorithm(), request->new_public_key_pem(), until);
    if (!r.ok()) return Finish(context, ToGrpc(r.status()));
    Refresh();
    response->set_previous_key_valid_until_unix_ms(absl::ToUnixMillis(until));
    spdlog::info("registry: node {} rotated its signing key ({}); old key valid until {}", p.id,
                 request->new_algorithm(), absl::FormatTime(until));
  }
  std::string page_token;
  do {
    absl::StatusOr<store::NodePage> page = nodes_->List(1000, page_token);
    if (!page.ok()) return Finish(context, ToGrpc(page.status()));
    for (const store::NodeRecord& r : page->records) {
      if (r.id != p.id && r.enabled) ToNodeInfo(r, response->add_peers());
    }
    page_token = page->next_page_token;
  } while (!page_token.empty());
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RegistryService::GetNode(grpc::CallbackServerContext* context,
                                                   const nodegate::v1::GetNodeRequest* request,
                                                   nodegate::v1::NodeInfo* response) {
  absl::StatusOr<store::NodeRecord> r = nodes_->Get(request->id());
  if (!r.ok()) return Finish(context, ToGrpc(r.status()));
  ToNodeInfo(*r, response);
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RegistryService::ListNodes(grpc::CallbackServerContext* context,
                                                     const nodegate::v1::ListNodesRequest* request,
                                                     nodegate::v1::ListNodesResponse* response) {
  absl::StatusOr<store::NodePage> page = nodes_->List(request->page_size(), request->page_token());
  if (!page.ok()) return Finish(context, ToGrpc(page.status()));
  for (const store::NodeRecord& r : page->records) ToNodeInfo(r, response->add_nodes());
  response->set_next_page_token(page->next_page_token);
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RegistryService::DisableNode(
    grpc::CallbackServerContext* context, const nodegate::v1::DisableNodeRequest* request,
    nodegate::v1::Empty*) {
  absl::Status s = nodes_->SetEnabled(request->id(), false);
  if (s.ok()) Refresh();
  return Finish(context, ToGrpc(s));
}

grpc::ServerUnaryReactor* RegistryService::RemoveNode(grpc::CallbackServerContext* context,
                                                      const nodegate::v1::RemoveNodeRequest* request,
                                                      nodegate::v1::Empty*) {
  absl::Status s = nodes_->Remove(request->id());
  if (s.ok()) Refresh();
  return Finish(context, ToGrpc(s));
}

}  // namespace nodegate::services
