// TunnelServer, TunnelClient and EchoServer in one process over loopback: the relay, half-close,
// allow-lists, limits and shutdown, without the CLI.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "testlib/pki.h"
#include "testlib/sockets.h"
#include "tunnel/echo_server.h"
#include "tunnel/tunnel_client.h"
#include "tunnel/tunnel_server.h"

namespace nodegate::tunnel {
namespace {

using ::nodegate::testlib::PkiDir;
using ::nodegate::testlib::RoundTrip;

class TunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_files_ = pki_.Issue("server", true);
    alice_ = pki_.Issue("alice", false);
    mallory_ = pki_.Issue("mallory", false);
    TunnelOptions echo;
    echo.listen = "127.0.0.1:0";
    echo.name = "echo";
    auto e = EchoServer::Start(echo);
    ASSERT_TRUE(e.ok()) << e.status();
    echo_ = *std::move(e);
  }

  // No list given: every client the CA verifies (allow_all).
  std::unique_ptr<TunnelServer> StartServer(AllowList allow = {}) {
    if (allow.empty()) allow.all = true;
    TunnelOptions o;
    o.listen = "127.0.0.1:0";
    o.target = echo_->address();
    o.files = server_files_;
    o.allow = std::move(allow);
    auto s = TunnelServer::Start(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  std::unique_ptr<TunnelClient> StartClient(const std::string& target, const tls::TlsFiles& files,
                                            std::string server_name = "") {
    TunnelOptions o;
    o.listen = "127.0.0.1:0";
    o.target = target;
    o.files = files;
    o.server_name = std::move(server_name);
    auto c = TunnelClient::Start(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  PkiDir pki_;
  tls::TlsFiles server_files_, alice_, mallory_;
  std::unique_ptr<EchoServer> echo_;
};

TEST_F(TunnelTest, PlainEchoAnswersHalfCloseWithItsOwn) {
  EXPECT_EQ(RoundTrip(echo_->address(), "hello"), "hello");
}

TEST_F(TunnelTest, RelaysBothWaysThroughClientAndServer) {
  auto server = StartServer();
  auto client = StartClient(server->address(), alice_);
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>(i / 4096);
  EXPECT_EQ(RoundTrip(client->address(), big), big);
}

TEST_F(TunnelTest, AllowListRefusesOthers) {
  AllowList allow;
  allow.cns = {"alice"};
  auto server = StartServer(allow);
  auto alice = StartClient(server->address(), alice_);
  auto mallory = StartClient(server->address(), mallory_);
  EXPECT_EQ(RoundTrip(alice->address(), "hi"), "hi");
  EXPECT_EQ(RoundTrip(mallory->address(), "hi"), "");
  EXPECT_EQ(server->stats().refused, 1u);
}

TEST_F(TunnelTest, ClientRefusesAServerWithTheWrongName) {
  auto server = StartServer();
  auto client = StartClient(server->address(), alice_, "wrong.example");
  EXPECT_EQ(RoundTrip(client->address(), "hi"), "");
}

TEST_F(TunnelTest, StopClosesOpenConnections) {
  auto server = StartServer();
  auto client = StartClient(server->address(), alice_);
  int fd = testlib::ConnectTo(client->address());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::send(fd, "x", 1, MSG_NOSIGNAL), 1);
  char c = 0;
  ASSERT_EQ(::recv(fd, &c, 1, 0), 1);
  EXPECT_EQ(server->stats().active, 1u);
  server->Stop();
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);  // EOF or reset, never a hang (10 s receive timeout)
  ::close(fd);
  server->Stop();  // idempotent
}

TEST_F(TunnelTest, StartErrorsNameTheField) {
  TunnelOptions o;
  o.listen = "127.0.0.1:0";
  o.target = "no-port";
  o.files = server_files_;
  auto s = TunnelServer::Start(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("target"), std::string::npos) << s.status();

  o.target = "127.0.0.1:1";
  o.allow.cns = {"alice"};
  o.client_auth = tls::ClientAuth::kNone;
  s = TunnelServer::Start(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("allow-lists"), std::string::npos);

  o.allow = {};  // neither a list nor allow_all: refused before anything listens
  o.client_auth = tls::ClientAuth::kRequire;
  s = TunnelServer::Start(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("no allow-list"), std::string::npos)
      << s.status();

  TunnelOptions c;
  c.listen = "127.0.0.1:0";
  c.target = "127.0.0.1:1";
  c.files = alice_;
  c.files.ca.clear();
  EXPECT_FALSE(TunnelClient::Start(c).ok());
}

TEST_F(TunnelTest, ConnectionLimit) {
  TunnelOptions o;
  o.listen = "127.0.0.1:0";
  o.target = echo_->address();
  o.max_connections = 1;
  o.name = "limited";
  auto limited = EchoServer::Start(o);
  ASSERT_TRUE(limited.ok());
  int first = testlib::ConnectTo((*limited)->address());
  ASSERT_EQ(::send(first, "a", 1, MSG_NOSIGNAL), 1);
  char c = 0;
  ASSERT_EQ(::recv(first, &c, 1, 0), 1);
  EXPECT_EQ(RoundTrip((*limited)->address(), "second"), "");
  ::close(first);
  for (int i = 0; i < 100 && (*limited)->stats().active != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(RoundTrip((*limited)->address(), "third"), "third");
}

}  // namespace
}  // namespace nodegate::tunnel
