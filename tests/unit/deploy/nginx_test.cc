#include "deploy/nginx.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace nodegate::deploy {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

server::NodeConfig Node() {
  server::NodeConfig c;
  c.node.id = "node-a";
  c.grpc.listen = "127.0.0.1:8443";
  c.grpc.local_listen = "127.0.0.1:8081";
  c.tls.files = {"/etc/ng/server.pem", "/etc/ng/server-key.pem", "/etc/ng/ca.pem",
                 "/etc/ng/crl.pem"};
  return c;
}

NginxOptions Grpcs() {
  NginxOptions o;
  o.listen = "127.0.0.1:9443";
  o.proxy_cert = "/etc/ng/proxy.pem";
  o.proxy_key = "/etc/ng/proxy-key.pem";
  return o;
}

TEST(NginxTest, GrpcsVerifiesClientsAndPresentsTheProxyCertificate) {
  absl::StatusOr<std::string> conf = RenderNginx(Node(), Grpcs());
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_THAT(*conf, HasSubstr("listen 127.0.0.1:9443 ssl http2;"));
  EXPECT_THAT(*conf, HasSubstr("ssl_verify_client on;"));
  EXPECT_THAT(*conf, HasSubstr("ssl_client_certificate /etc/ng/ca.pem;"));
  EXPECT_THAT(*conf, HasSubstr("ssl_crl /etc/ng/crl.pem;"));
  EXPECT_THAT(*conf, HasSubstr("server 127.0.0.1:8443;"));
  EXPECT_THAT(*conf, HasSubstr("keepalive 64;"));
  EXPECT_THAT(*conf, HasSubstr("grpc_pass grpcs://nodegate_node_a;"));
  EXPECT_THAT(*conf, HasSubstr("grpc_ssl_certificate         /etc/ng/proxy.pem;"));
  EXPECT_THAT(*conf, HasSubstr("grpc_ssl_verify on;"));
  EXPECT_THAT(*conf,
              HasSubstr("grpc_set_header x-forwarded-client-cert $ssl_client_escaped_cert;"));
  EXPECT_THAT(*conf, HasSubstr("underscores_in_headers on;"));
}

TEST(NginxTest, AMissingOrRefusedClientCertificateIsAnsweredAsGrpcUnauthenticated) {
  absl::StatusOr<std::string> conf = RenderNginx(Node(), Grpcs());
  ASSERT_TRUE(conf.ok()) << conf.status();
  // 496: no certificate; 495: one that failed verification. Both become a Trailers-Only gRPC
  // answer (HTTP 200, application/grpc, grpc-status 16), never nginx's HTTP 400 page.
  EXPECT_THAT(*conf, HasSubstr("error_page 496 = @nodegate_no_client_cert;"));
  EXPECT_THAT(*conf, HasSubstr("error_page 495 = @nodegate_bad_client_cert;"));
  for (const char* location : {"@nodegate_no_client_cert {", "@nodegate_bad_client_cert {"}) {
    const size_t at = conf->find(absl::StrCat("location ", location));
    ASSERT_NE(at, std::string::npos) << location;
    const std::string block = conf->substr(at, conf->find('}', at) - at);
    EXPECT_THAT(block,
                AllOf(HasSubstr("default_type application/grpc;"),
                      HasSubstr("add_header grpc-status 16 always;"),
                      HasSubstr("add_header grpc-message \""), HasSubstr("return 200 \"\";")))
        << block;
  }
  EXPECT_THAT(*conf, HasSubstr("\"client certificate refused: $ssl_client_verify\" always;"));
  EXPECT_THAT(*conf, HasSubstr("ssl_verify_client on;"));  // still required, never optional
}

TEST(NginxTest, H2cGoesToTheLocalListenerWithoutProxyCertificate) {
  NginxOptions o;
  o.backend = "h2c";
  absl::StatusOr<std::string> conf = RenderNginx(Node(), o);
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_THAT(*conf, HasSubstr("server 127.0.0.1:8081;"));
  EXPECT_THAT(*conf, HasSubstr("grpc_pass grpc://nodegate_node_a;"));
  EXPECT_THAT(*conf, Not(HasSubstr("grpc_ssl_certificate")));
}

TEST(NginxTest, UnderscoresCanBeTurnedOff) {
  NginxOptions o = Grpcs();
  o.underscores_in_headers = false;
  EXPECT_THAT(*RenderNginx(Node(), o), HasSubstr("underscores_in_headers off;"));
}

TEST(NginxTest, StandaloneIsACompleteConfigUnderThePrefix) {
  NginxOptions o = Grpcs();
  o.standalone = true;
  o.prefix = "/tmp/ngx";
  absl::StatusOr<std::string> conf = RenderNginx(Node(), o);
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_THAT(*conf, HasSubstr("daemon off;"));
  EXPECT_THAT(*conf, HasSubstr("pid /tmp/ngx/nginx.pid;"));
  EXPECT_THAT(*conf, HasSubstr("events {"));
  EXPECT_THAT(*conf, HasSubstr("grpc_status=$upstream_trailer_grpc_status"));
}

TEST(NginxTest, RefusesWhatCannotWork) {
  server::NodeConfig node = Node();
  NginxOptions no_proxy_cert;  // grpcs without nginx's client certificate
  EXPECT_THAT(std::string(RenderNginx(node, no_proxy_cert).status().message()),
              HasSubstr("--proxy-cert"));
  NginxOptions h2c;
  h2c.backend = "h2c";
  node.grpc.local_listen.clear();
  EXPECT_THAT(std::string(RenderNginx(node, h2c).status().message()),
              HasSubstr("grpc.local_listen"));
  node = Node();
  node.grpc.listen = "127.0.0.1:0";
  EXPECT_THAT(std::string(RenderNginx(node, Grpcs()).status().message()),
              HasSubstr("ephemeral port"));
  NginxOptions bad = Grpcs();
  bad.backend = "http";
  EXPECT_FALSE(RenderNginx(Node(), bad).ok());
  NginxOptions standalone = Grpcs();
  standalone.standalone = true;
  EXPECT_THAT(std::string(RenderNginx(Node(), standalone).status().message()), HasSubstr("prefix"));
}

// ------------------------------------------------------------------------------------------------
// Several replicas of one node behind one upstream (docs/deploy.md "Fleet").

NginxOptions GrpcsTo(std::vector<std::string> replicas) {
  NginxOptions o = Grpcs();
  o.replicas = std::move(replicas);
  return o;
}

TEST(NginxTest, ReplicasBecomeTheServersOfOneUpstreamWithKeepalive) {
  absl::StatusOr<std::string> conf =
      RenderNginx(Node(), GrpcsTo({"10.0.0.11:8443", "replica-2.example:8443", "[fd00::13]:8443"}));
  ASSERT_TRUE(conf.ok()) << conf.status();

  EXPECT_THAT(*conf, HasSubstr("upstream nodegate_node_a {\n"
                               "    # 3 replicas of node node-a"));
  EXPECT_THAT(*conf, HasSubstr("    server 10.0.0.11:8443;\n"
                               "    server replica-2.example:8443;\n"
                               "    server [fd00::13]:8443;\n"
                               "    # Without keepalive"));
  EXPECT_THAT(*conf, HasSubstr("    keepalive 64;\n}"));
  EXPECT_THAT(*conf, Not(HasSubstr("server 127.0.0.1:8443;")));  // the config's own grpc.listen
  EXPECT_THAT(*conf, HasSubstr("grpc_pass grpcs://nodegate_node_a;"));
  EXPECT_THAT(*conf, HasSubstr("grpc_ssl_name localhost;"));
}

TEST(NginxTest, OneReplicaAtTheConfigsAddressRendersExactlyWhatTheConfigAloneDoes) {
  absl::StatusOr<std::string> from_config = RenderNginx(Node(), Grpcs());
  absl::StatusOr<std::string> one_replica = RenderNginx(Node(), GrpcsTo({"127.0.0.1:8443"}));
  ASSERT_TRUE(from_config.ok()) << from_config.status();
  ASSERT_TRUE(one_replica.ok()) << one_replica.status();

  EXPECT_EQ(*one_replica, *from_config);
  EXPECT_THAT(*from_config, Not(HasSubstr("replicas of node")));
}

TEST(NginxTest, ReplicasNeedNoFixedPortInTheConfigTheyWereRenderedFrom) {
  server::NodeConfig node = Node();
  node.grpc.listen = "127.0.0.1:0";

  absl::StatusOr<std::string> conf = RenderNginx(node, GrpcsTo({"10.0.0.11:8443"}));

  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_THAT(*conf, HasSubstr("server 10.0.0.11:8443;"));
}

TEST(NginxTest, H2cReplicasAreLoopbackAddresses) {
  NginxOptions o;
  o.backend = "h2c";
  o.replicas = {"127.0.0.1:8081", "127.0.0.2:8081", "[::1]:8082", "localhost:8083"};
  absl::StatusOr<std::string> conf = RenderNginx(Node(), o);
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_THAT(*conf, HasSubstr("    server 127.0.0.2:8081;\n    server [::1]:8082;\n"));
  EXPECT_THAT(*conf, HasSubstr("grpc_pass grpc://nodegate_node_a;"));

  o.replicas = {"127.0.0.1:8081", "10.0.0.12:8081"};
  absl::Status refused = RenderNginx(Node(), o).status();

  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.message()),
              AllOf(HasSubstr("--replica '10.0.0.12:8081': not a loopback address"),
                    HasSubstr("grpc.local_listen"), HasSubstr("use --backend grpcs")));
}

TEST(NginxTest, RefusesAMalformedReplicaNamingTheValueAndTheExpectedForm) {
  const std::pair<const char*, const char*> cases[] = {
      {"10.0.0.11", "no :PORT"},
      {":8443", "no host"},
      {"10.0.0.11:", "not a number in 1..65535"},
      {"10.0.0.11:https", "not a number in 1..65535"},
      {"10.0.0.11:65536", "not a number in 1..65535"},
      {"10.0.0.11:-1", "not a number in 1..65535"},
      {"fd00::11:8443", "needs brackets"},
      {"[fd00::11:8443", "'[' without ']'"},
      {"[not-v6]:8443", "not an IPv6 address"},
      {"[fd00::11]8443", "no :PORT"},
      // Anything that could end the nginx directive or start another one.
      {"a;b:8443", "not a name or an address"},
      {"a b:8443", "not a name or an address"},
      {"a}:8443", "not a name or an address"},
      {"unix:/run/ng.sock", "not a number in 1..65535"},
  };
  for (const auto& [value, why] : cases) {
    absl::Status s = RenderNginx(Node(), GrpcsTo({"10.0.0.1:8443", value})).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(std::string(s.message()),
                AllOf(HasSubstr(absl::StrCat("--replica '", value, "': ")), HasSubstr(why),
                      HasSubstr("give HOST:PORT, e.g. 10.0.0.11:8443")))
        << value;
  }
}

TEST(NginxTest, RefusesAnEphemeralOrRepeatedReplica) {
  EXPECT_THAT(std::string(RenderNginx(Node(), GrpcsTo({"10.0.0.11:0"})).status().message()),
              HasSubstr("--replica '10.0.0.11:0': port 0 means an ephemeral port; give the fixed "
                        "port the replica listens on"));
  EXPECT_THAT(std::string(RenderNginx(Node(), GrpcsTo({"10.0.0.11:8443", "10.0.0.12:8443",
                                                       "10.0.0.11:8443"}))
                              .status()
                              .message()),
              HasSubstr("--replica '10.0.0.11:8443': given twice"));
}

}  // namespace
}  // namespace nodegate::deploy
