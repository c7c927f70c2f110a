#include "deploy/nginx.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nodegate::deploy {
namespace {

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

}  // namespace
}  // namespace nodegate::deploy
