#include "services/registry.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "auth/store_credential_source.h"
#include "crypto/digest.h"
#include "crypto/key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"
#include "testlib/auth.h"
#include "testlib/rpc_calls.h"
#include "testlib/status.h"
#include "testlib/stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::services {
namespace {

using ::nodegate::testlib::Call;
using ::nodegate::testlib::MakePrincipal;
using ::nodegate::testlib::OpenStores;
using ::nodegate::testlib::Unwrap;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace nodegate::v1;  // NOLINT(google-build-using-namespace): the request/response types
using Kind = auth::Principal::Kind;

constexpr char kAddNode[] = "/nodegate.v1.NodeRegistry/AddNode";
constexpr char kUploadCert[] = "/nodegate.v1.NodeRegistry/UploadCert";
constexpr char kKeypairSync[] = "/nodegate.v1.NodeRegistry/KeypairSync";
constexpr char kListNodes[] = "/nodegate.v1.NodeRegistry/ListNodes";
constexpr char kDisableNode[] = "/nodegate.v1.NodeRegistry/DisableNode";

// The fixture's node store with a hook run once, before the first Get: the window in which a
// concurrent AddNode holding the same join token spends it and creates the node.
class InterleavingNodeStore : public store::NodeStore {
 public:
  InterleavingNodeStore(std::shared_ptr<store::NodeStore> inner, std::function<void()> before_get)
      : inner_(std::move(inner)), before_get_(std::move(before_get)) {}

  absl::StatusOr<store::NodeRecord> Create(const store::NodeRecord& r) override {
    return inner_->Create(r);
  }
  absl::StatusOr<store::NodeRecord> Get(std::string_view id) override {
    if (before_get_) std::exchange(before_get_, nullptr)();
    return inner_->Get(id);
  }
  absl::StatusOr<store::NodePage> List(int page_size, std::string_view page_token) override {
    return inner_->List(page_size, page_token);
  }
  absl::StatusOr<store::NodeRecord> Update(const store::NodeRecord& r) override {
    return inner_->Update(r);
  }
  absl::Status SetEnabled(std::string_view id, bool enabled) override {
    return inner_->SetEnabled(id, enabled);
  }
  absl::StatusOr<store::NodeRecord> SetRoles(std::string_view id,
                                             const std::vector<std::string>& roles) override {
    return inner_->SetRoles(id, roles);
  }
  absl::Status Remove(std::string_view id) override { return inner_->Remove(id); }
  absl::StatusOr<store::NodeRecord> RotateKey(std::string_view id, std::string_view algorithm,
                                              std::string_view public_key_pem,
                                              absl::Time grace_until) override {
    return inner_->RotateKey(id, algorithm, public_key_pem, grace_until);
  }
  absl::StatusOr<uint64_t> Generation() override { return inner_->Generation(); }

 private:
  std::shared_ptr<store::NodeStore> inner_;
  std::function<void()> before_get_;
};

class RegistryServiceTest : public ::testing::Test {
 protected:
  ::nodegate::testlib::ScopedTempDir dir_;  // first: removed after the stores close
  void SetUp() override {
    store::Stores stores = OpenStores(dir_);
    nodes_ = std::move(stores.nodes);
    credentials_ = std::move(stores.credentials);
    cache_ = Unwrap(auth::CredentialCache::Start(
        std::make_shared<auth::StoreCredentialSource>(nodes_, credentials_), absl::ZeroDuration()));
    pki::PemPair ca_pem = Unwrap(pki::CertificateAuthority::Create(pki::CaOptions()));
    ca_ = Unwrap(pki::CertificateAuthority::Load(ca_pem.cert_pem, ca_pem.key_pem));
  }

  // A registry over the fixture's stores; `with_ca` false is a node without registry.ca_cert.
  void Start(bool with_ca = true) {
    RegistryOptions o;
    o.node_id = "registry";
    o.ca_pem = ca_->cert_pem();
    service_ = std::make_unique<RegistryService>(std::move(o), nodes_, credentials_,
                                                 with_ca ? ca_ : nullptr, cache_.get());
    service_->Register(table_);
  }

  store::NodeRecord AddNodeRecord(const std::string& id, std::vector<std::string> roles = {}) {
    store::NodeRecord r;
    r.id = id;
    r.algorithm = "ed25519";
    r.public_key_pem = Unwrap(crypto::GenerateKeyPair(crypto::Algorithm::kEd25519)).public_key_pem;
    r.roles = std::move(roles);
    return Unwrap(nodes_->Create(r));
  }

  // A CSR whose subject claims `common_name`; the registry must ignore it.
  static std::string Csr(const std::string& common_name) {
    crypto::KeyPair key = Unwrap(crypto::GenerateKeyPair(crypto::Algorithm::kEcdsaP256Sha256));
    crypto::EvpPkeyPtr pkey = Unwrap(pki::ParsePrivateKey(key.private_key_pem, "test key"));
    return Unwrap(pki::MakeCsr(pkey.get(), common_name));
  }

  // A join token for `node_id`, stored hashed; returns the token itself.
  std::string InviteNode(const std::string& node_id) {
    std::string token = "join-token-for-" + node_id;
    store::JoinToken t;
    t.token_hash = crypto::Sha256Hex(token);
    t.node_id = node_id;
    t.expires_at = absl::Now() + absl::Hours(1);
    Unwrap(credentials_->CreateJoinToken(t));
    return token;
  }

  static AddNodeRequest JoinRequest(const std::string& token, const std::string& node_id) {
    AddNodeRequest req;
    req.set_join_token(token);
    req.set_node_id(node_id);
    req.set_algorithm("ed25519");
    req.set_public_key_pem(
        Unwrap(crypto::GenerateKeyPair(crypto::Algorithm::kEd25519)).public_key_pem);
    req.set_csr_pem(Csr(node_id));
    return req;
  }

  bool TokenSpent(const std::string& token) {
    for (const store::JoinToken& t : Unwrap(credentials_->ListJoinTokens())) {
      if (t.token_hash == crypto::Sha256Hex(token)) return t.used_at != absl::InfinitePast();
    }
    ADD_FAILURE() << "no such join token";
    return false;
  }

  absl::StatusOr<UploadCertResponse> UploadCert(const auth::Principal& caller) {
    UploadCertRequest req;
    req.set_csr_pem(Csr("someone-else"));
    UploadCertResponse resp;
    if (absl::Status s = Call(table_, kUploadCert, req, &resp, caller); !s.ok()) return s;
    return resp;
  }

  const auth::Principal admin_ = MakePrincipal(Kind::kUser, "root", {"admin"}, auth::kToken);
  std::shared_ptr<store::NodeStore> nodes_;
  std::shared_ptr<store::CredentialStore> credentials_;
  std::unique_ptr<auth::CredentialCache> cache_;
  std::shared_ptr<const pki::CertificateAuthority> ca_;
  std::unique_ptr<RegistryService> service_;
  rpc::MethodTable table_;
};

TEST_F(RegistryServiceTest, AddNodeEnrolsOnceAndASecondUseOfTheTokenIsUnauthenticated) {
  Start();
  const std::string token = InviteNode("node-b");
  AddNodeResponse resp;
  ASSERT_TRUE(Call(table_, kAddNode, JoinRequest(token, "node-b"), &resp).ok());
  EXPECT_THAT(resp.cert_pem(), HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_TRUE(nodes_->Get("node-b").ok());
  EXPECT_EQ(Call(table_, kAddNode, JoinRequest(token, "node-b"), &resp).code(),
            absl::StatusCode::kUnauthenticated);
}

// The interleaving e2e.test_registry's eight racing AddNode calls hit under ASan: this call read
// the token unspent, then a concurrent one spent it and created the node before this one looked
// the node up. The loser must hear what every other loser hears (UNAUTHENTICATED), not
// ALREADY_EXISTS, which only the holder of an unspent token may learn.
TEST_F(RegistryServiceTest, AddNodeLosingATokenRaceAfterTheTokenCheckIsUnauthenticated) {
  const std::string token = InviteNode("node-b");
  std::shared_ptr<store::NodeStore> real = nodes_;
  nodes_ = std::make_shared<InterleavingNodeStore>(real, [&] {
    Unwrap(credentials_->ConsumeJoinToken(crypto::Sha256Hex(token), absl::Now()));
    AddNodeRecord("node-b");
  });
  Start();
  AddNodeResponse resp;
  EXPECT_EQ(Call(table_, kAddNode, JoinRequest(token, "node-b"), &resp).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(RegistryServiceTest, AddNodeForARegisteredIdWithAnUnspentTokenIsAlreadyExistsAndKeepsIt) {
  Start();
  AddNodeRecord("node-b");
  const std::string token = InviteNode("node-b");
  AddNodeResponse resp;
  EXPECT_EQ(Call(table_, kAddNode, JoinRequest(token, "node-b"), &resp).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(TokenSpent(token));
}

TEST_F(RegistryServiceTest, UploadCertByANonNodeIsPermissionDenied) {
  Start();
  AddNodeRecord("root");  // a node of the same id must not make a user one
  const absl::Status want =
      absl::PermissionDeniedError("UploadCert: only a node may renew its certificate");
  EXPECT_EQ(UploadCert(admin_).status(), want);
  EXPECT_EQ(UploadCert(MakePrincipal(Kind::kApp, "root", {}, auth::kAppKey)).status(), want);
  EXPECT_EQ(UploadCert(auth::Principal()).status(), want);
}

TEST_F(RegistryServiceTest, UploadCertIssuesTheCallingNodesIdentityNotTheCsrs) {
  Start();
  AddNodeRecord("node-a");
  absl::StatusOr<UploadCertResponse> got =
      UploadCert(MakePrincipal(Kind::kNode, "node-a", {}, auth::kMtls));
  ASSERT_TRUE(got.ok()) << got.status();

  EXPECT_TRUE(ca_->CheckIssued(got->cert_pem(), "issued").ok());
  EXPECT_EQ(got->ca_pem(), ca_->cert_pem());
  pki::CertificateInfo info = Unwrap(pki::InspectCertificatePem(got->cert_pem(), "issued"));
  EXPECT_EQ(info.common_name, "node-a");
  EXPECT_THAT(info.uris, Contains("spiffe://nodegate.local/node/node-a"));
  EXPECT_EQ(Unwrap(nodes_->Get("node-a")).cert_serial, info.serial_hex);
}

TEST_F(RegistryServiceTest, UploadCertByADisabledNodeIsRefusedOnceDisabled) {
  Start();
  AddNodeRecord("node-a");
  const auth::Principal node_a = MakePrincipal(Kind::kNode, "node-a", {}, auth::kMtls);
  ASSERT_TRUE(UploadCert(node_a).ok());

  DisableNodeRequest disable;
  disable.set_id("node-a");
  Empty empty;
  ASSERT_TRUE(Call(table_, kDisableNode, disable, &empty, admin_).ok());

  EXPECT_FALSE(cache_->snapshot()->nodes.at("node-a").enabled);  // refreshed at once
  EXPECT_EQ(UploadCert(node_a).status(),
            absl::PermissionDeniedError("UploadCert: node not registered or disabled"));
}

TEST_F(RegistryServiceTest, UploadCertWithoutACaIsFailedPrecondition) {
  Start(/*with_ca=*/false);
  AddNodeRecord("node-a");
  EXPECT_EQ(UploadCert(MakePrincipal(Kind::kNode, "node-a", {}, auth::kMtls)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RegistryServiceTest, KeypairSyncNeedsTheNodesSignature) {
  Start();
  AddNodeRecord("node-a");
  KeypairSyncResponse resp;
  absl::Status s = Call(table_, kKeypairSync, KeypairSyncRequest(), &resp,
                        MakePrincipal(Kind::kNode, "node-a", {}, auth::kMtls));
  EXPECT_EQ(
      s, absl::PermissionDeniedError("KeypairSync: needs a signature by the node's current key"));
}

TEST_F(RegistryServiceTest, KeypairSyncListsEnabledPeersOtherThanTheCaller) {
  Start();
  AddNodeRecord("node-a");
  AddNodeRecord("node-b");
  AddNodeRecord("node-c");
  ASSERT_TRUE(nodes_->SetEnabled("node-c", false).ok());
  KeypairSyncResponse resp;
  ASSERT_TRUE(Call(table_, kKeypairSync, KeypairSyncRequest(), &resp,
                   MakePrincipal(Kind::kNode, "node-a", {}, auth::kSignature))
                  .ok());
  ASSERT_EQ(resp.peers_size(), 1);
  EXPECT_EQ(resp.peers(0).id(), "node-b");
}

TEST_F(RegistryServiceTest, KeypairSyncRefusesARotationSignedWithThePreviousKey) {
  Start();
  store::NodeRecord before = AddNodeRecord("node-a");
  auth::Principal stolen_old_key = MakePrincipal(Kind::kNode, "node-a", {}, auth::kSignature);
  stolen_old_key.signed_with_previous_key = true;
  KeypairSyncRequest req;
  req.set_new_algorithm("ed25519");
  req.set_new_public_key_pem(
      Unwrap(crypto::GenerateKeyPair(crypto::Algorithm::kEd25519)).public_key_pem);
  KeypairSyncResponse resp;
  absl::Status s = Call(table_, kKeypairSync, req, &resp, stolen_old_key);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("not the previous one"));
  absl::StatusOr<store::NodeRecord> after = nodes_->Get("node-a");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->public_key_pem, before.public_key_pem) << "the current key stays current";
}

TEST_F(RegistryServiceTest, KeypairSyncRotatesWhenSignedWithTheCurrentKey) {
  Start();
  store::NodeRecord before = AddNodeRecord("node-a");
  KeypairSyncRequest req;
  req.set_new_algorithm("ed25519");
  req.set_new_public_key_pem(
      Unwrap(crypto::GenerateKeyPair(crypto::Algorithm::kEd25519)).public_key_pem);
  KeypairSyncResponse resp;
  ASSERT_TRUE(Call(table_, kKeypairSync, req, &resp,
                   MakePrincipal(Kind::kNode, "node-a", {}, auth::kSignature))
                  .ok());
  absl::StatusOr<store::NodeRecord> after = nodes_->Get("node-a");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->public_key_pem, req.new_public_key_pem());
}

TEST_F(RegistryServiceTest, KeypairSyncStillListsPeersForThePreviousKey) {
  Start();
  AddNodeRecord("node-a");
  AddNodeRecord("node-b");
  auth::Principal old_key = MakePrincipal(Kind::kNode, "node-a", {}, auth::kSignature);
  old_key.signed_with_previous_key = true;
  KeypairSyncResponse resp;
  ASSERT_TRUE(Call(table_, kKeypairSync, KeypairSyncRequest(), &resp, old_key).ok());
  ASSERT_EQ(resp.peers_size(), 1);
  EXPECT_EQ(resp.peers(0).id(), "node-b");
}

TEST_F(RegistryServiceTest, ListNodesReturnsEveryNodeInIdOrder) {
  Start();
  store::NodeRecord b = AddNodeRecord("node-b", {"worker"});
  AddNodeRecord("node-a");
  ListNodesResponse resp;
  ASSERT_TRUE(Call(table_, kListNodes, ListNodesRequest(), &resp, admin_).ok());
  ASSERT_EQ(resp.nodes_size(), 2);
  EXPECT_EQ(resp.nodes(0).id(), "node-a");
  const NodeInfo& got = resp.nodes(1);
  EXPECT_EQ(got.id(), "node-b");
  EXPECT_EQ(got.algorithm(), "ed25519");
  EXPECT_EQ(got.public_key_pem(), b.public_key_pem);
  EXPECT_THAT(got.roles(), ElementsAre("worker"));
  EXPECT_TRUE(got.enabled());
  EXPECT_EQ(got.created_unix_ms(), absl::ToUnixMillis(b.created_at));
  EXPECT_EQ(resp.next_page_token(), "");
}

}  // namespace
}  // namespace nodegate::services
