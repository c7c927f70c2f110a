#include "tunnel/allow_list.h"

#include <gtest/gtest.h>

namespace nodegate::tunnel {
namespace {

pki::CertificateInfo Peer(std::string cn, std::vector<std::string> uris = {}) {
  pki::CertificateInfo info;
  info.common_name = std::move(cn);
  info.uris = std::move(uris);
  info.serial_hex = "01";
  return info;
}

AllowList AllowAll() {
  AllowList allow;
  allow.all = true;
  return allow;
}

TEST(AllowListTest, AllowAllLetsAnyVerifiedCertificatePass) {
  pki::CertificateInfo peer = Peer("anyone");
  EXPECT_TRUE(CheckAllowed(AllowAll(), &peer, "nodegate.local").ok());
}

TEST(AllowListTest, AllowAllWithoutCertificateIsAllowed) {
  // Whether a certificate is needed at all is client_auth's business, not the allow-list's.
  EXPECT_TRUE(CheckAllowed(AllowAll(), nullptr, "nodegate.local").ok());
}

TEST(AllowListTest, NothingSaidRefusesEveryone) {
  // ValidateAllowList keeps such a server from starting; should one run anyway, it fails closed.
  pki::CertificateInfo peer = Peer("anyone");
  EXPECT_EQ(CheckAllowed(AllowList{}, &peer, "nodegate.local").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckAllowed(AllowList{}, nullptr, "nodegate.local").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AllowListTest, ValidateWantsAllOrAListButNotBoth) {
  absl::Status none = ValidateAllowList(AllowList{});
  EXPECT_EQ(none.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(none.message().find("--allow-all"), std::string_view::npos) << none;
  EXPECT_NE(none.message().find("allow_cn"), std::string_view::npos) << none;
  EXPECT_TRUE(ValidateAllowList(AllowAll()).ok());
  AllowList listed;
  listed.uris = {"spiffe://nodegate.local/node/alice"};
  EXPECT_TRUE(ValidateAllowList(listed).ok());
  listed.all = true;
  EXPECT_EQ(ValidateAllowList(listed).code(), absl::StatusCode::kInvalidArgument);
}

TEST(AllowListTest, AnyListRefusesAClientWithoutCertificate) {
  AllowList allow;
  allow.cns = {"alice"};
  absl::Status s = CheckAllowed(allow, nullptr, "nodegate.local");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
}

TEST(AllowListTest, MatchesCommonName) {
  AllowList allow;
  allow.cns = {"bob", "alice"};
  pki::CertificateInfo alice = Peer("alice");
  pki::CertificateInfo carol = Peer("carol");
  EXPECT_TRUE(CheckAllowed(allow, &alice, "nodegate.local").ok());
  EXPECT_EQ(CheckAllowed(allow, &carol, "nodegate.local").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AllowListTest, MatchesNodeIdFromSpiffeUriBeforeCommonName) {
  AllowList allow;
  allow.node_ids = {"web-1"};
  pki::CertificateInfo by_uri = Peer("something-else", {"spiffe://nodegate.local/node/web-1"});
  pki::CertificateInfo other_domain = Peer("x", {"spiffe://elsewhere/node/web-1"});
  pki::CertificateInfo by_cn = Peer("web-1");
  EXPECT_TRUE(CheckAllowed(allow, &by_uri, "nodegate.local").ok());
  EXPECT_FALSE(CheckAllowed(allow, &other_domain, "nodegate.local").ok());
  EXPECT_TRUE(CheckAllowed(allow, &by_cn, "nodegate.local").ok());
}

TEST(AllowListTest, MatchesUriSanExactly) {
  AllowList allow;
  allow.uris = {"spiffe://nodegate.local/node/alice"};
  pki::CertificateInfo alice = Peer("alice", {"spiffe://nodegate.local/node/alice"});
  pki::CertificateInfo prefix = Peer("alice", {"spiffe://nodegate.local/node/alice2"});
  EXPECT_TRUE(CheckAllowed(allow, &alice, "nodegate.local").ok());
  EXPECT_FALSE(CheckAllowed(allow, &prefix, "nodegate.local").ok());
}

TEST(AllowListTest, ListsAreOredAndTheRefusalNamesTheIdentity) {
  AllowList allow;
  allow.cns = {"alice"};
  allow.uris = {"spiffe://nodegate.local/node/bob"};
  pki::CertificateInfo bob = Peer("not-bob", {"spiffe://nodegate.local/node/bob"});
  pki::CertificateInfo mallory = Peer("mallory");
  EXPECT_TRUE(CheckAllowed(allow, &bob, "nodegate.local").ok());
  absl::Status s = CheckAllowed(allow, &mallory, "nodegate.local");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(s.message()).find("cn=mallory"), std::string::npos) << s;
}

TEST(AllowListTest, DescribeIdentity) {
  pki::CertificateInfo alice = Peer("alice", {"spiffe://nodegate.local/node/alice"});
  EXPECT_EQ(DescribeIdentity(nullptr, "nodegate.local"), "-");
  EXPECT_EQ(DescribeIdentity(&alice, "nodegate.local"),
            "cn=alice node_id=alice uri=spiffe://nodegate.local/node/alice serial=01");
}

}  // namespace
}  // namespace nodegate::tunnel
