// http::ConsoleServer over real sockets: HTTPS with the node's certificate, client certificates
// mapped to the mtls authenticator, client_auth modes.
#include "http/console_server.h"

#include <httplib.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "console_test_util.h"

namespace nodegate::http {
namespace {

using Json = nlohmann::json;

class ConsoleServerTest : public ::testing::Test {
 protected:
  void Start(tls::ClientAuth mode) {
    auth_ = testing::AuthFixture::Make();
    pki_ = testing::TestPki::Make();
    dir_ = testing::TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    Write("ca.pem", pki_.ca.cert_pem);
    Write("client.pem", pki_.client.cert_pem);
    Write("client-key.pem", pki_.client.key_pem);
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

  void Write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ + "/" + name) << content;
  }

  std::unique_ptr<httplib::SSLClient> Client(bool with_cert) {
    auto c = with_cert ? std::make_unique<httplib::SSLClient>("127.0.0.1", port_,
                                                               dir_ + "/client.pem",
                                                               dir_ + "/client-key.pem")
                       : std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
    c->set_ca_cert_path((dir_ + "/ca.pem").c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(5, 0);
    return c;
  }

  testing::AuthFixture auth_;
  testing::TestPki pki_;
  std::string dir_;
  std::unique_ptr<ConsoleServer> server_;
  int port_ = 0;
};

TEST_F(ConsoleServerTest, ServesHttpsVerifiedAgainstTheNodeCaAndAcceptsToken) {
  Start(tls::ClientAuth::kRequest);
  auto c = Client(false);
  httplib::Result r = c->Get("/api/v1/node", {{"Authorization", std::string("Bearer ") +
                                                                    testing::kUserToken}});
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json::parse(r->body)["principal"]["id"], "bob");
}

TEST_F(ConsoleServerTest, RefusesWithoutCredentials) {
  Start(tls::ClientAuth::kRequest);
  httplib::Result r = Client(false)->Get("/api/v1/node");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 401);
}

TEST_F(ConsoleServerTest, ClientCertificateBecomesTheMtlsPrincipal) {
  Start(tls::ClientAuth::kRequest);
  httplib::Result r = Client(true)->Get("/api/v1/node");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  Json p = Json::parse(r->body)["principal"];
  EXPECT_EQ(p["id"], "dev-client");
  EXPECT_EQ(p["authenticators"], Json::array({"mtls"}));
}

TEST_F(ConsoleServerTest, RequireRefusesTheHandshakeWithoutClientCertificate) {
  Start(tls::ClientAuth::kRequire);
  httplib::Result without = Client(false)->Get("/healthz");
  EXPECT_FALSE(without && without->status == 200);
  httplib::Result with = Client(true)->Get("/healthz");
  ASSERT_TRUE(with) << httplib::to_string(with.error());
  EXPECT_EQ(with->status, 200);
}

TEST_F(ConsoleServerTest, StopIsIdempotent) {
  Start(tls::ClientAuth::kNone);
  server_->Stop();
  server_->Stop();
  EXPECT_FALSE(Client(false)->Get("/healthz"));
}

TEST(SplitHostPortTest, AcceptsV4V6AndRejectsGarbage) {
  EXPECT_EQ(SplitHostPort("127.0.0.1:8444", "f")->second, 8444);
  EXPECT_EQ(SplitHostPort("[::1]:0", "f")->first, "::1");
  EXPECT_FALSE(SplitHostPort("nohost", "http.listen").ok());
  EXPECT_FALSE(SplitHostPort("h:99999", "http.listen").ok());
}

}  // namespace
}  // namespace nodegate::http
