// http::ConsoleServer over real sockets: HTTPS with the node's certificate, client certificates
// mapped to the mtls authenticator, client_auth modes.
#include "http/console_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testlib/auth.h"
#include "testlib/https_client.h"
#include "testlib/pki.h"

namespace nodegate::http {
namespace {

using Json = nlohmann::json;

class ConsoleServerTest : public ::testing::Test {
 protected:
  void Start(tls::ClientAuth mode) {
    auth_ = testlib::ServicePolicyAuth::Make();
    pki_ = testlib::TestPki::Make();
    auto set = pki_.ServerSet();
    GatewayOptions g;
    g.node_id = "test-node";
    g.credentials = [set] { return set; };
    g.authorizer = auth_.authorizer;
    auto gateway = Gateway::New(std::move(g));
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    ConsoleServerOptions o;
    o.listen = "127.0.0.1:0";
    o.client_auth = mode;
    o.credentials = [set] { return set; };
    auto server = ConsoleServer::Start(o, std::shared_ptr<Gateway>(*std::move(gateway)));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    port_ = std::stoi(server_->address().substr(server_->address().rfind(':') + 1));
  }

  absl::StatusOr<testlib::ClientResponse> Get(
      const std::string& target, bool with_cert,
      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    std::optional<testlib::ClientIdentity> id;
    if (with_cert) id = testlib::ClientIdentity{pki_.client.cert_pem, pki_.client.key_pem};
    return testlib::Fetch(port_, pki_.ca.cert_pem, "GET", target, headers, id);
  }

  testlib::ServicePolicyAuth auth_;
  testlib::TestPki pki_;
  std::unique_ptr<ConsoleServer> server_;
  int port_ = 0;
};

TEST_F(ConsoleServerTest, ServesHttpsVerifiedAgainstTheNodeCaAndAcceptsToken) {
  Start(tls::ClientAuth::kRequest);
  auto r =
      Get("/api/v1/node", false, {{"Authorization", std::string("Bearer ") + testlib::kUserToken}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json::parse(r->body)["principal"]["id"], "bob");
}

TEST_F(ConsoleServerTest, RefusesWithoutCredentials) {
  Start(tls::ClientAuth::kRequest);
  auto r = Get("/api/v1/node", false);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
}

TEST_F(ConsoleServerTest, ClientCertificateBecomesTheMtlsPrincipal) {
  Start(tls::ClientAuth::kRequest);
  auto r = Get("/api/v1/node", true);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << r->body;
  Json p = Json::parse(r->body)["principal"];
  EXPECT_EQ(p["id"], "dev-client");
  EXPECT_EQ(p["authenticators"], Json::array({"mtls"}));
}

TEST_F(ConsoleServerTest, RequireRefusesTheHandshakeWithoutClientCertificate) {
  Start(tls::ClientAuth::kRequire);
  auto without = Get("/healthz", false);
  EXPECT_FALSE(without.ok() && without->status == 200);
  auto with = Get("/healthz", true);
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->status, 200);
}

TEST_F(ConsoleServerTest, ResponsesCarryTheSecurityHeadersIncludingHsts) {
  Start(tls::ClientAuth::kNone);
  auto r = Get("/healthz", false);
  ASSERT_TRUE(r.ok()) << r.status();
  auto header = [&](const char* name) {
    auto it = r->headers.find(name);
    return it == r->headers.end() ? std::string("<absent>") : it->second;
  };
  EXPECT_EQ(header("strict-transport-security"), "max-age=31536000");
  EXPECT_EQ(header("x-content-type-options"), "nosniff");
  EXPECT_EQ(header("x-frame-options"), "DENY");
}

TEST_F(ConsoleServerTest, StopIsIdempotent) {
  Start(tls::ClientAuth::kNone);
  server_->Stop();
  server_->Stop();
  EXPECT_FALSE(Get("/healthz", false).ok());
}

}  // namespace
}  // namespace nodegate::http
