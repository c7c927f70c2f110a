#include "services/registry.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/signature_v1.h"
#include "crypto/digest.h"
#include "crypto/signer_factory.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"
#include "spdlog/spdlog.h"

namespace nodegate::services {
namespace {

using nodegate::v1::AddNodeRequest;
using nodegate::v1::AddNodeResponse;
using nodegate::v1::DisableNodeRequest;
using nodegate::v1::Empty;
using nodegate::v1::GetNodeRequest;
using nodegate::v1::GetTrustBundleRequest;
using nodegate::v1::GetTrustBundleResponse;
using nodegate::v1::KeypairSyncRequest;
using nodegate::v1::KeypairSyncResponse;
using nodegate::v1::ListNodesRequest;
using nodegate::v1::ListNodesResponse;
using nodegate::v1::NodeInfo;
using nodegate::v1::RemoveNodeRequest;
using nodegate::v1::UploadCertRequest;
using nodegate::v1::UploadCertResponse;

// One answer for every bad token, so a caller learns nothing about which tokens exist.
absl::Status BadJoinToken() {
  return absl::UnauthenticatedError("join token: invalid, used or expired");
}

// The join token whose hash is `hash`, or nullopt when there is none.
absl::StatusOr<std::optional<store::JoinToken>> FindJoinToken(store::CredentialStore& credentials,
                                                              const std::string& hash) {
  absl::StatusOr<std::vector<store::JoinToken>> tokens = credentials.ListJoinTokens();
  if (!tokens.ok()) return tokens.status();
  for (store::JoinToken& t : *tokens) {
    if (t.token_hash == hash) return std::move(t);
  }
  return std::nullopt;
}

bool Spent(const store::JoinToken& token) { return token.used_at != absl::InfinitePast(); }

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
                                 auth::CredentialCache* cache)
    : options_(std::move(options)),
      nodes_(std::move(nodes)),
      credentials_(std::move(credentials)),
      ca_(std::move(ca)),
      cache_(cache) {}

void RegistryService::Register(rpc::MethodTable& table) {
  // GetTrustBundle answers from memory; every other method reads or writes the stores (and
  // AddNode/UploadCert sign a certificate), so they run off the core's thread.
  table.AddUnary<GetTrustBundleRequest, GetTrustBundleResponse>(
      "/nodegate.v1.NodeRegistry/GetTrustBundle", rpc::Execution::kInline,
      [this](const rpc::CallInfo& c, const GetTrustBundleRequest& r, GetTrustBundleResponse* out) {
        return GetTrustBundle(c, r, out);
      });
  table.AddUnary<AddNodeRequest, AddNodeResponse>(
      "/nodegate.v1.NodeRegistry/AddNode", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const AddNodeRequest& r, AddNodeResponse* out) {
        return AddNode(c, r, out);
      });
  table.AddUnary<UploadCertRequest, UploadCertResponse>(
      "/nodegate.v1.NodeRegistry/UploadCert", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const UploadCertRequest& r, UploadCertResponse* out) {
        return UploadCert(c, r, out);
      });
  table.AddUnary<KeypairSyncRequest, KeypairSyncResponse>(
      "/nodegate.v1.NodeRegistry/KeypairSync", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const KeypairSyncRequest& r, KeypairSyncResponse* out) {
        return KeypairSync(c, r, out);
      });
  table.AddUnary<GetNodeRequest, NodeInfo>("/nodegate.v1.NodeRegistry/GetNode",
                                           rpc::Execution::kBlocking,
                                           [this](const rpc::CallInfo& c, const GetNodeRequest& r,
                                                  NodeInfo* out) { return GetNode(c, r, out); });
  table.AddUnary<ListNodesRequest, ListNodesResponse>(
      "/nodegate.v1.NodeRegistry/ListNodes", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const ListNodesRequest& r, ListNodesResponse* out) {
        return ListNodes(c, r, out);
      });
  table.AddUnary<DisableNodeRequest, Empty>(
      "/nodegate.v1.NodeRegistry/DisableNode", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const DisableNodeRequest& r, Empty* out) {
        return DisableNode(c, r, out);
      });
  table.AddUnary<RemoveNodeRequest, Empty>(
      "/nodegate.v1.NodeRegistry/RemoveNode", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const RemoveNodeRequest& r, Empty* out) {
        return RemoveNode(c, r, out);
      });
}

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

absl::Status RegistryService::GetTrustBundle(const rpc::CallInfo& /*call*/,
                                             const GetTrustBundleRequest& /*request*/,
                                             GetTrustBundleResponse* response) {
  response->set_ca_pem(options_.ca_pem);
  response->set_registry_node_id(options_.node_id);
  return absl::OkStatus();
}

absl::Status RegistryService::AddNode(const rpc::CallInfo& /*call*/, const AddNodeRequest& req,
                                      AddNodeResponse* resp) {
  if (ca_ == nullptr) {
    return absl::FailedPreconditionError(
        "this node holds no CA (registry.ca_cert/ca_key): it cannot enrol nodes");
  }
  // Everything that can be checked without touching state is checked first, so a bad request
  // neither burns the token nor leaves anything in the registry.
  if (req.join_token().empty() || req.join_token().size() > 1024) return BadJoinToken();
  if (!auth::sigv1::IsValidNodeId(req.node_id())) {
    return absl::InvalidArgumentError("node_id: must be [A-Za-z0-9._-]{1,128}");
  }
  absl::StatusOr<crypto::Algorithm> alg = crypto::ParseAlgorithm(req.algorithm());
  if (!alg.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("algorithm: ", alg.status().message()));
  }
  absl::StatusOr<std::unique_ptr<crypto::Verifier>> verifier =
      crypto::NewVerifier(*alg, req.public_key_pem());
  if (!verifier.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("public_key_pem: ", verifier.status().message()));
  }
  absl::StatusOr<crypto::X509ReqPtr> csr = pki::ParseCsr(req.csr_pem(), "csr_pem");
  if (!csr.ok()) return absl::InvalidArgumentError(csr.status().message());

  const std::string hash = crypto::Sha256Hex(req.join_token());
  absl::StatusOr<std::optional<store::JoinToken>> token = FindJoinToken(*credentials_, hash);
  if (!token.ok()) return token.status();
  absl::Time now = absl::Now();
  if (!*token || Spent(**token) || now >= (*token)->expires_at) return BadJoinToken();
  if ((*token)->node_id != req.node_id()) {
    return absl::PermissionDeniedError("join token: issued for another node id");
  }
  if (nodes_->Get(req.node_id()).ok()) {
    // A concurrent AddNode with this token may have spent it and created the node since the
    // token was read above. A spent token is answered as one, so every loser of that race hears
    // UNAUTHENTICATED; ALREADY_EXISTS is only for the holder of a token still unspent.
    absl::StatusOr<std::optional<store::JoinToken>> again = FindJoinToken(*credentials_, hash);
    if (!again.ok()) return again.status();
    if (!*again || Spent(**again)) return BadJoinToken();
    return absl::AlreadyExistsError("node_id: already registered");
  }
  absl::StatusOr<std::string> cert = IssueNodeCert(req.node_id(), req.csr_pem());
  if (!cert.ok()) return absl::InvalidArgumentError(cert.status().message());
  absl::StatusOr<pki::CertificateInfo> info = pki::InspectCertificatePem(*cert, "issued");
  if (!info.ok()) return info.status();

  // The token is spent atomically; a concurrent second use fails here.
  absl::StatusOr<store::JoinToken> used = credentials_->ConsumeJoinToken(hash, now);
  if (!used.ok()) return BadJoinToken();
  store::NodeRecord r;
  r.id = req.node_id();
  r.algorithm = req.algorithm();
  r.public_key_pem = req.public_key_pem();
  r.roles = used->roles;
  r.enabled = true;
  r.cert_serial = info->serial_hex;
  absl::StatusOr<store::NodeRecord> created = nodes_->Create(r);
  if (!created.ok()) return created.status();
  Refresh();
  spdlog::info("registry: node {} joined ({}, cert serial {})", r.id, r.algorithm,
               info->serial_hex);
  resp->set_cert_pem(*cert);
  resp->set_ca_pem(options_.ca_pem);
  resp->set_registry_node_id(options_.node_id);
  resp->set_registry_algorithm(options_.own_algorithm);
  resp->set_registry_public_key_pem(options_.own_public_key_pem);
  for (const std::string& role : r.roles) resp->add_roles(role);
  return absl::OkStatus();
}

absl::Status RegistryService::UploadCert(const rpc::CallInfo& call,
                                         const UploadCertRequest& request,
                                         UploadCertResponse* response) {
  if (ca_ == nullptr) {
    return absl::FailedPreconditionError("this node holds no CA: it cannot issue certificates");
  }
  const auth::Principal& p = call.principal;
  if (p.kind != auth::Principal::Kind::kNode) {
    return absl::PermissionDeniedError("UploadCert: only a node may renew its certificate");
  }
  absl::StatusOr<store::NodeRecord> node = nodes_->Get(p.id);
  if (!node.ok() || !node->enabled) {
    return absl::PermissionDeniedError("UploadCert: node not registered or disabled");
  }
  absl::StatusOr<std::string> cert = IssueNodeCert(p.id, request.csr_pem());
  if (!cert.ok()) return absl::InvalidArgumentError(cert.status().message());
  absl::StatusOr<pki::CertificateInfo> info = pki::InspectCertificatePem(*cert, "issued");
  if (info.ok()) {
    node->cert_serial = info->serial_hex;
    (void)nodes_->Update(*node);
  }
  response->set_cert_pem(*cert);
  response->set_ca_pem(options_.ca_pem);
  return absl::OkStatus();
}

absl::Status RegistryService::KeypairSync(const rpc::CallInfo& call,
                                          const KeypairSyncRequest& request,
                                          KeypairSyncResponse* response) {
  const auth::Principal& p = call.principal;
  if (p.kind != auth::Principal::Kind::kNode || !(p.authenticators & auth::kSignature)) {
    return absl::PermissionDeniedError("KeypairSync: needs a signature by the node's current key");
  }
  if (!request.new_public_key_pem().empty()) {
    // A leaked key that was already rotated out must not rotate in the attacker's key and demote
    // the legitimate one to "previous": only the current key proves the node.
    if (p.signed_with_previous_key) {
      return absl::PermissionDeniedError(
          "KeypairSync: a key rotation needs a signature by the node's current key, not the "
          "previous one");
    }
    absl::StatusOr<crypto::Algorithm> alg = crypto::ParseAlgorithm(request.new_algorithm());
    if (!alg.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("new_algorithm: ", alg.status().message()));
    }
    auto verifier = crypto::NewVerifier(*alg, request.new_public_key_pem());
    if (!verifier.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("new_public_key_pem: ", verifier.status().message()));
    }
    absl::Time until = absl::Now() + options_.key_grace;
    absl::StatusOr<store::NodeRecord> r =
        nodes_->RotateKey(p.id, request.new_algorithm(), request.new_public_key_pem(), until);
    if (!r.ok()) return r.status();
    Refresh();
    response->set_previous_key_valid_until_unix_ms(absl::ToUnixMillis(until));
    spdlog::info("registry: node {} rotated its signing key ({}); old key valid until {}", p.id,
                 request.new_algorithm(), absl::FormatTime(until));
  }
  std::string page_token;
  do {
    absl::StatusOr<store::NodePage> page = nodes_->List(1000, page_token);
    if (!page.ok()) return page.status();
    for (const store::NodeRecord& r : page->records) {
      if (r.id != p.id && r.enabled) ToNodeInfo(r, response->add_peers());
    }
    page_token = page->next_page_token;
  } while (!page_token.empty());
  return absl::OkStatus();
}

absl::Status RegistryService::GetNode(const rpc::CallInfo& /*call*/, const GetNodeRequest& request,
                                      NodeInfo* response) {
  absl::StatusOr<store::NodeRecord> r = nodes_->Get(request.id());
  if (!r.ok()) return r.status();
  ToNodeInfo(*r, response);
  return absl::OkStatus();
}

absl::Status RegistryService::ListNodes(const rpc::CallInfo& /*call*/,
                                        const ListNodesRequest& request,
                                        ListNodesResponse* response) {
  absl::StatusOr<store::NodePage> page = nodes_->List(request.page_size(), request.page_token());
  if (!page.ok()) return page.status();
  for (const store::NodeRecord& r : page->records) ToNodeInfo(r, response->add_nodes());
  response->set_next_page_token(page->next_page_token);
  return absl::OkStatus();
}

absl::Status RegistryService::DisableNode(const rpc::CallInfo& /*call*/,
                                          const DisableNodeRequest& request, Empty* /*response*/) {
  absl::Status s = nodes_->SetEnabled(request.id(), false);
  if (s.ok()) Refresh();
  return s;
}

absl::Status RegistryService::RemoveNode(const rpc::CallInfo& /*call*/,
                                         const RemoveNodeRequest& request, Empty* /*response*/) {
  absl::Status s = nodes_->Remove(request.id());
  if (s.ok()) Refresh();
  return s;
}

}  // namespace nodegate::services
