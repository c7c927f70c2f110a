// tls::SslContextFollower: the Asio context of the HTTPS listeners follows the node's credential
// source, rebuilt only when the source publishes a different set.
#include <gtest/gtest.h>

#include <memory>

#include "testlib/pki.h"
#include "tls/ssl_context.h"

namespace nodegate::tls {
namespace {

using ::nodegate::testlib::TestCa;

std::shared_ptr<const CredentialSet> SetFrom(const TestCa& ca, bool with_ca) {
  return ::nodegate::testlib::MakeCredentialSet(ca.IssueServer(), with_ca ? ca.cert_pem() : "");
}

TEST(SslContextFollowerTest, RebuildsOnlyWhenTheSourcePublishesANewSet) {
  TestCa ca("Follower CA");
  auto current = std::make_shared<std::shared_ptr<const CredentialSet>>(SetFrom(ca, true));
  auto f = SslContextFollower::New([current] { return *current; }, ClientAuth::kRequire, "http");
  ASSERT_TRUE(f.ok()) << f.status();
  auto first = (*f)->context();
  EXPECT_EQ((*f)->context(), first);
  *current = SetFrom(ca, true);
  auto second = (*f)->context();
  EXPECT_NE(second, first);
  EXPECT_EQ((*f)->context(), second);
}

TEST(SslContextFollowerTest, ASetThatCannotBeBuiltKeepsThePreviousContext) {
  TestCa ca("Follower CA");
  auto current = std::make_shared<std::shared_ptr<const CredentialSet>>(SetFrom(ca, true));
  auto f = SslContextFollower::New([current] { return *current; }, ClientAuth::kRequire, "http");
  ASSERT_TRUE(f.ok()) << f.status();
  auto first = (*f)->context();
  auto broken = std::make_shared<CredentialSet>(**current);
  broken->key_pem = "not a key";
  *current = broken;
  EXPECT_EQ((*f)->context(), first);
}

TEST(SslContextFollowerTest, ClientCertificatesNeedACaAndTheErrorNamesTheField) {
  TestCa ca("Follower CA");
  auto set = SetFrom(ca, false);
  auto f = SslContextFollower::New([set] { return set; }, ClientAuth::kRequest, "xmlrpc");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(std::string(f.status().message()).find("xmlrpc.client_auth"), std::string::npos)
      << f.status();
  EXPECT_TRUE(SslContextFollower::New([set] { return set; }, ClientAuth::kNone, "xmlrpc").ok());
}

TEST(SslContextFollowerTest, NoCredentialsIsAnError) {
  EXPECT_FALSE(SslContextFollower::New(nullptr, ClientAuth::kNone, "http").ok());
  EXPECT_FALSE(SslContextFollower::New([] { return std::shared_ptr<const CredentialSet>(); },
                                       ClientAuth::kNone, "http")
                   .ok());
}

TEST(PeerIdentityFromSslTest, NoConnectionIsUnauthenticated) {
  PeerIdentity id = PeerIdentityFromSsl(nullptr);
  EXPECT_FALSE(id.authenticated);
  EXPECT_TRUE(id.transport.empty());
}

}  // namespace
}  // namespace nodegate::tls
