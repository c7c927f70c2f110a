// The mtls authenticator: the verified client certificate names the calling node.
#include <string>

#include "auth/authorizer.h"
#include "crypto/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/auth.h"

namespace nodegate::auth {
namespace {

using crypto::Algorithm;
using ::nodegate::testlib::CertPeer;
using ::nodegate::testlib::Harness;
using ::nodegate::testlib::Md;
using ::nodegate::testlib::Node;
using ::nodegate::testlib::Token;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

CredentialSnapshot Registry() {
  CredentialSnapshot s;
  s.nodes.emplace("node-a", Node("node-a", Algorithm::kEd25519, {"worker"}));
  NodeCredential off = Node("node-off", Algorithm::kEd25519, {"worker"});
  off.enabled = false;
  s.nodes.emplace("node-off", off);
  s.tokens.emplace(crypto::Sha256("tok"), Token("tok", "alice", {"reader"}));
  return s;
}

AuthorizerOptions RequireRegistered() {
  AuthorizerOptions o = Harness::DefaultOptions();
  o.mtls_require_registered = true;
  return o;
}

TEST(MtlsTest, SpiffeUriNamesTheNode) {
  Harness h(Registry());
  Decision d = h.Authorize(Md(), CertPeer("some-cn", "spiffe://nodegate.local/node/node-a"));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "node:node-a");
  EXPECT_EQ(d.principal.authenticators, kMtls);
  EXPECT_THAT(d.principal.roles, ElementsAre("worker"));
}

TEST(MtlsTest, FallsBackToCommonNameWithoutSpiffeUri) {
  Harness h(Registry());
  Decision d = h.Authorize(Md(), CertPeer("node-a"));
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.principal.ToString(), "node:node-a");
}

TEST(MtlsTest, SpiffeUriOfAnotherTrustDomainFallsBackToCommonName) {
  Harness h(Registry());
  Decision d = h.Authorize(Md(), CertPeer("node-cn", "spiffe://evil.example/node/node-a"));
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.principal.ToString(), "node:node-cn");
}

TEST(MtlsTest, HonoursTheConfiguredTrustDomain) {
  AuthorizerOptions o = Harness::DefaultOptions();
  o.trust_domain = "corp.example";
  Harness h(Registry(), {}, o);
  EXPECT_EQ(h.Authorize(Md(), CertPeer("cn", "spiffe://corp.example/node/node-a")).principal.id,
            "node-a");
}

TEST(MtlsTest, UnregisteredNodeIsAllowedWithoutRolesByDefault) {
  Harness h(Registry());
  Decision d = h.Authorize(Md(), CertPeer("node-new"));
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.principal.ToString(), "node:node-new");
  EXPECT_THAT(d.principal.roles, IsEmpty());
}

TEST(MtlsTest, DisabledNodeKeepsNoRolesByDefault) {
  Harness h(Registry());
  Decision d = h.Authorize(Md(), CertPeer("node-off"));
  ASSERT_TRUE(d.status.ok());
  EXPECT_THAT(d.principal.roles, IsEmpty());
}

TEST(MtlsTest, CertificateNamingNoNodeIsRefused) {
  Harness h(Registry());
  Decision d = h.Authorize(Md(), CertPeer(""));
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(d.status.error_message(), "mtls: certificate names no node");
}

TEST(MtlsTest, RequireRegisteredRefusesUnknownNode) {
  Harness h(Registry(), {}, RequireRegistered());
  Decision d = h.Authorize(Md(), CertPeer("node-new"));
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(d.status.error_message(), "mtls: node not registered or disabled");
  EXPECT_EQ(d.rejection, Rejection::kMtlsUnregistered);
  EXPECT_FALSE(d.principal.authenticated());
}

TEST(MtlsTest, RequireRegisteredRefusesDisabledNode) {
  Harness h(Registry(), {}, RequireRegistered());
  Decision d = h.Authorize(Md(), CertPeer("node-off"));
  EXPECT_EQ(d.rejection, Rejection::kMtlsUnregistered);
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(MtlsTest, RequireRegisteredAllowsEnabledNode) {
  Harness h(Registry(), {}, RequireRegistered());
  EXPECT_TRUE(h.Authorize(Md(), CertPeer("node-a")).status.ok());
}

TEST(MtlsTest, TokenPrincipalWinsOverCertificate) {
  Harness h(Registry());
  Decision d = h.Authorize(Md().Add("access-token", "tok"), CertPeer("node-a"));
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.principal.ToString(), "user:alice");
  EXPECT_THAT(d.principal.roles, ElementsAre("reader"));
  EXPECT_EQ(d.principal.authenticators, kToken | kMtls);
}

TEST(MtlsTest, FailingCertificateIsIgnoredWhenAPerCallCredentialIdentifies) {
  // Under client_auth = "require" every call has a certificate; an unregistered one must not
  // break a call that a token already authenticated.
  Harness h(Registry(), {}, RequireRegistered());
  Decision d = h.Authorize(Md().Add("access-token", "tok"), CertPeer("node-new"));
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "user:alice");
  EXPECT_EQ(d.principal.authenticators, kToken);
}

TEST(MtlsTest, UnauthenticatedPeerIsNoCredential) {
  Harness h(Registry());
  tls::PeerIdentity peer;
  peer.common_name = "node-a";  // a name without a verified certificate proves nothing
  Decision d = h.Authorize(Md(), peer);
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(d.rejection, Rejection::kNoCredential);
}

TEST(MtlsTest, DisabledAuthenticatorIsNotConsulted) {
  AuthorizerOptions o = Harness::DefaultOptions();
  o.enabled = kAllAuthenticators & ~kMtls;
  Harness h(Registry(), {}, o);
  Decision d = h.Authorize(Md(), CertPeer("node-a"));
  EXPECT_EQ(d.rejection, Rejection::kNotAccepted);
  EXPECT_EQ(d.status.error_message(),
            "credential not accepted for this method (accepts: signature,token,app_key)");
}

TEST(MtlsTest, ForwardedHeaderFromAnUntrustedPeerIsIgnoredAndCounted) {
  Harness h(Registry());
  Md md;
  md.Add("x-forwarded-client-cert", "Cert=\"...\"");
  Decision d = h.Authorize(md, CertPeer("node-a"));
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.principal.ToString(), "node:node-a");
  EXPECT_EQ(h.authorizer().forwarded_ignored(), 1u);
}

}  // namespace
}  // namespace nodegate::auth
