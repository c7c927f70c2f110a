// [http]: the HTTPS console / JSON gateway section (issue 7).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/config.h"

namespace nodegate::server {
namespace {

using ::testing::HasSubstr;

constexpr char kPath[] = "/etc/nodegate/node.toml";

std::string Error(const std::string& text) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(text, kPath);
  return c.ok() ? "OK" : std::string(c.status().message());
}

constexpr char kTlsWithCa[] = "[tls]\ncert = \"n.pem\"\nkey = \"k.pem\"\nca = \"ca.pem\"\n";
constexpr char kTlsNoCa[] = "[tls]\ncert = \"n.pem\"\nkey = \"k.pem\"\nclient_auth = \"none\"\n";

TEST(ConfigHttpTest, OffByDefaultWithRequestMode) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(kTlsWithCa, kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->http.listen.empty());
  EXPECT_EQ(c->http.client_auth, tls::ClientAuth::kRequest);
  EXPECT_EQ(c->http.access_log_lines, 100);
}

TEST(ConfigHttpTest, ReadsEveryKeyAndResolvesPaths) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string(kTlsWithCa) +
                          "[http]\nlisten = \"127.0.0.1:8444\"\nclient_auth = \"require\"\n"
                          "client_cert = \"pki/client.pem\"\nclient_key = \"pki/client-key.pem\"\n"
                          "access_log_lines = 50\n",
                      kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->http.listen, "127.0.0.1:8444");
  EXPECT_EQ(c->http.client_auth, tls::ClientAuth::kRequire);
  EXPECT_EQ(c->http.client_cert, "/etc/nodegate/pki/client.pem");
  EXPECT_EQ(c->http.access_log_lines, 50);
}

TEST(ConfigHttpTest, RejectsBadValues) {
  std::string t = kTlsWithCa;
  EXPECT_THAT(Error(t + "[http]\nopen = true\n"), HasSubstr("unknown key http.open"));
  EXPECT_THAT(Error(t + "[http]\nlisten = \"8444\"\n"), HasSubstr("http.listen"));
  EXPECT_THAT(Error(t + "[http]\nclient_auth = \"maybe\"\n"), HasSubstr("http.client_auth"));
  EXPECT_THAT(Error(t + "[http]\nclient_cert = \"c.pem\"\n"), HasSubstr("go together"));
  EXPECT_THAT(Error(t + "[http]\naccess_log_lines = 0\n"), HasSubstr("http.access_log_lines"));
}

TEST(ConfigHttpTest, ConsoleSessionsHaveSafeDefaultsAndAreConfigurable) {
  absl::StatusOr<NodeConfig> d = ParseNodeConfig(kTlsWithCa, kPath);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->http.max_sessions, 10000);
  EXPECT_EQ(d->http.session_idle_timeout, absl::Minutes(30));
  EXPECT_EQ(d->http.session_max_lifetime, absl::Hours(12));
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string(kTlsWithCa) +
                          "[http]\nmax_sessions = 5\nsession_idle_timeout = \"5m\"\n"
                          "session_max_lifetime = \"1h\"\n",
                      kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->http.max_sessions, 5);
  EXPECT_EQ(c->http.session_idle_timeout, absl::Minutes(5));
  EXPECT_EQ(c->http.session_max_lifetime, absl::Hours(1));
  std::string t = kTlsWithCa;
  EXPECT_THAT(Error(t + "[http]\nmax_sessions = 0\n"), HasSubstr("http.max_sessions"));
  EXPECT_THAT(Error(t + "[http]\nsession_idle_timeout = \"0s\"\n"),
              HasSubstr("http.session_idle_timeout"));
  EXPECT_THAT(Error(t + "[http]\nsession_max_lifetime = \"0s\"\n"),
              HasSubstr("http.session_max_lifetime"));
}

TEST(ConfigHttpTest, EdgeLimitsHaveSafeDefaults) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(kTlsWithCa, kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  for (const http::HttpsLimits* l : {&c->http.limits, &c->xmlrpc.limits}) {
    EXPECT_EQ(l->max_connections, 512u);
    EXPECT_EQ(l->handshake_timeout, absl::Seconds(10));
    EXPECT_EQ(l->header_timeout, absl::Seconds(10));
    EXPECT_EQ(l->request_timeout, absl::Seconds(30));
    EXPECT_EQ(l->idle_timeout, absl::Seconds(5));
    EXPECT_EQ(l->write_timeout, absl::Seconds(10));
    EXPECT_EQ(l->max_header_bytes, 16384u);
    EXPECT_EQ(l->workers, 4);
    EXPECT_EQ(l->queue_depth, 64u);
  }
}

TEST(ConfigHttpTest, ReadsTheEdgeLimitsUnderHttpAndXmlRpc) {
  const std::string keys =
      "max_connections = 100\nhandshake_timeout = \"3s\"\nheader_timeout = \"2s\"\n"
      "idle_timeout = \"1s\"\nwrite_timeout = \"4s\"\nmax_header_bytes = 8192\n"
      "workers = 2\nqueue_depth = 8\n";
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(
      std::string(kTlsWithCa) + "[http]\n" + keys + "request_timeout = \"20s\"\n[xmlrpc]\n" + keys,
      kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  for (const http::HttpsLimits* l : {&c->http.limits, &c->xmlrpc.limits}) {
    EXPECT_EQ(l->max_connections, 100u);
    EXPECT_EQ(l->handshake_timeout, absl::Seconds(3));
    EXPECT_EQ(l->header_timeout, absl::Seconds(2));
    EXPECT_EQ(l->idle_timeout, absl::Seconds(1));
    EXPECT_EQ(l->write_timeout, absl::Seconds(4));
    EXPECT_EQ(l->max_header_bytes, 8192u);
    EXPECT_EQ(l->workers, 2);
    EXPECT_EQ(l->queue_depth, 8u);
  }
  EXPECT_EQ(c->http.limits.request_timeout, absl::Seconds(20));
}

TEST(ConfigHttpTest, RejectsBadEdgeLimits) {
  std::string t = kTlsWithCa;
  EXPECT_THAT(Error(t + "[http]\nmax_connections = 0\n"), HasSubstr("http.max_connections"));
  EXPECT_THAT(Error(t + "[http]\nheader_timeout = \"0s\"\n"), HasSubstr("http.header_timeout"));
  EXPECT_THAT(Error(t + "[http]\nmax_header_bytes = 100\n"), HasSubstr("http.max_header_bytes"));
  EXPECT_THAT(Error(t + "[http]\nworkers = 0\n"), HasSubstr("http.workers"));
  EXPECT_THAT(Error(t + "[xmlrpc]\nqueue_depth = 0\n"), HasSubstr("xmlrpc.queue_depth"));
  // The XML-RPC request bound is read_timeout.
  EXPECT_THAT(Error(t + "[xmlrpc]\nrequest_timeout = \"5s\"\n"),
              HasSubstr("xmlrpc.request_timeout"));
}

TEST(ConfigHttpTest, ClientCertificateModesNeedTheCaOnlyWhenListening) {
  EXPECT_EQ(Error(kTlsNoCa), "OK");
  EXPECT_THAT(Error(std::string(kTlsNoCa) + "[http]\nlisten = \"127.0.0.1:0\"\n"),
              HasSubstr("needs tls.ca"));
  EXPECT_EQ(
      Error(std::string(kTlsNoCa) + "[http]\nlisten = \"127.0.0.1:0\"\nclient_auth = \"none\"\n"),
      "OK");
}

}  // namespace
}  // namespace nodegate::server
