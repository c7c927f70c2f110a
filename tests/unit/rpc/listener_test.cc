// rpc::Listener: the accept front of the gRPC listeners. Real sockets on 127.0.0.1; the handoff
// keeps (or closes) the accepted sockets the way gRPC would.
#include "rpc/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "observe/handshake_log.h"

namespace nodegate::rpc {
namespace {

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True when the server side closed `fd` (EOF) within a generous bound.
bool ClosedByServer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 10'000) != 1) return false;
  char c;
  return recv(fd, &c, 1, 0) == 0;
}

// Collects the sockets handed over, like gRPC taking ownership of them.
class Sink {
 public:
  Listener::Handoff handoff() {
    return [this](int fd) {
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      cv_.notify_all();
    };
  }
  // Waits until `n` sockets were handed over (false after a generous bound).
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return fds_.size() >= n; });
  }
  void CloseAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) close(fd);
    closed_ += fds_.size();
    fds_.clear();
  }
  ~Sink() { CloseAll(); }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return fds_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> fds_;
  size_t closed_ = 0;
};

TEST(ListenerTest, RefusesAPortAnotherListenerHolds) {
  absl::StatusOr<std::unique_ptr<Listener>> first = Listener::Bind("127.0.0.1:0", {});
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string address = "127.0.0.1:" + std::to_string((*first)->port());

  absl::StatusOr<std::unique_ptr<Listener>> second = Listener::Bind(address, {});

  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(), "cannot listen on " + address + ": Address already in use");
}

TEST(ListenerTest, RejectsAnAddressWithoutPort) {
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Bind("localhost", {});
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ListenerTest, HandsOverConnectionsUpToTheCapAndClosesTheNext) {
  ListenerLimits limits;
  limits.max_connections = 2;
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Bind("127.0.0.1:0", limits);
  ASSERT_TRUE(l.ok()) << l.status();
  Sink sink;
  (*l)->Start(sink.handoff());

  int a = Connect((*l)->port());
  int b = Connect((*l)->port());
  ASSERT_TRUE(sink.WaitFor(2));
  int c = Connect((*l)->port());

  EXPECT_TRUE(ClosedByServer(c));
  ListenerStats s = (*l)->stats();
  EXPECT_EQ(s.accepted, 2u);
  EXPECT_EQ(s.refused_connection_limit, 1u);
  close(a);
  close(b);
  close(c);
}

TEST(ListenerTest, AdmitsAgainOnceTheOwnerClosedAConnection) {
  ListenerLimits limits;
  limits.max_connections = 1;
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Bind("127.0.0.1:0", limits);
  ASSERT_TRUE(l.ok()) << l.status();
  Sink sink;
  (*l)->Start(sink.handoff());
  int a = Connect((*l)->port());
  ASSERT_TRUE(sink.WaitFor(1));

  sink.CloseAll();  // the owner (gRPC) ends the connection
  int b = Connect((*l)->port());

  EXPECT_TRUE(sink.WaitFor(1));
  EXPECT_EQ((*l)->stats().accepted, 2u);
  EXPECT_EQ((*l)->stats().refused_connection_limit, 0u);
  close(a);
  close(b);
}

// gRPC 1.51's own listener never accepts again after one EMFILE; this one sheds the connection
// and goes on.
TEST(ListenerTest, KeepsAcceptingAfterTheProcessRanOutOfDescriptors) {
#ifdef __SANITIZE_ADDRESS__  // the sanitized suite, make test SAN=address,undefined
  // UBSan's vptr check of the listener's EMFILE log line first tests the vtable's readability
  // with a pipe(2), and this test has taken every descriptor: the runtime then reports a valid
  // spdlog logger as "invalid vptr" (and reads its suppressions too late to be told otherwise).
  // The sanitizer, not the code under test, needs the descriptors; the normal build runs this.
  GTEST_SKIP() << "needs every file descriptor, which the sanitizer runtime also needs";
#endif
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Bind("127.0.0.1:0", {});
  ASSERT_TRUE(l.ok()) << l.status();
  Sink sink;
  (*l)->Start(sink.handoff());
  // Use up every descriptor but one, which the client socket then takes.
  std::vector<int> filler;
  for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.push_back(fd);
  ASSERT_FALSE(filler.empty());
  close(filler.back());
  filler.pop_back();

  int starved = Connect((*l)->port());
  ASSERT_GE(starved, 0);
  EXPECT_TRUE(ClosedByServer(starved));
  EXPECT_GE((*l)->stats().refused_fd_headroom, 1u);

  for (int fd : filler) close(fd);
  close(starved);
  int later = Connect((*l)->port());
  EXPECT_TRUE(sink.WaitFor(1));
  EXPECT_EQ((*l)->stats().accepted, 1u);
  close(later);
}

TEST(ListenerTest, RefusesConnectionsThatWouldEatTheHeadroom) {
  // Leave 40 descriptors free; with a headroom of 64 the next connection is over it.
  ListenerLimits limits;
  limits.fd_headroom = 64;
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Bind("127.0.0.1:0", limits);
  ASSERT_TRUE(l.ok()) << l.status();
  Sink sink;
  (*l)->Start(sink.handoff());
  std::vector<int> filler;
  for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.push_back(fd);
  ASSERT_GT(filler.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    close(filler.back());
    filler.pop_back();
  }

  int c = Connect((*l)->port());

  EXPECT_TRUE(ClosedByServer(c));
  EXPECT_EQ((*l)->stats().accepted, 0u);
  EXPECT_GE((*l)->stats().refused_fd_headroom, 1u);
  for (int fd : filler) close(fd);
  close(c);
}

TEST(SocketLedgerTest, ForgetsADescriptorReusedForAnotherFile) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  SocketLedger ledger;
  ASSERT_TRUE(ledger.Add(pair[0]));
  const int fd = pair[0];

  close(fd);
  int reused = open("/dev/null", O_RDONLY);  // takes the lowest free number: `fd`
  ASSERT_EQ(reused, fd);

  EXPECT_EQ(ledger.Sweep(), 0u);
  close(reused);
  close(pair[1]);
}

TEST(SocketLedgerTest, KeepsOpenSockets) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  SocketLedger ledger;
  ASSERT_TRUE(ledger.Add(pair[0]));
  ASSERT_TRUE(ledger.Add(pair[1]));

  EXPECT_EQ(ledger.Sweep(), 2u);
  close(pair[0]);
  EXPECT_EQ(ledger.Sweep(), 1u);
  close(pair[1]);
}

// ScreenPlaintext: only a connection whose first bytes can start a TLS ClientHello reaches gRPC.

std::string ReadAll(int fd) {
  std::string out;
  char buf[1024];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10'000) != 1) break;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(ListenerScreenTest, PlainHttpGetsThe400AndIsRecordedWithThePeerNeverHandedOver) {
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Bind("127.0.0.1:0", {});
  ASSERT_TRUE(l.ok()) << l.status();
  auto log = std::make_shared<observe::HandshakeLog>(nullptr);
  (*l)->ScreenPlaintext(log, "grpc");
  Sink sink;
  (*l)->Start(sink.handoff());

  const int fd = Connect((*l)->port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  const std::string answer = ReadAll(fd);
  close(fd);

  EXPECT_EQ(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("The plain HTTP request was sent to HTTPS port"), std::string::npos);
  EXPECT_EQ((log->Counts()[{"grpc", "plaintext"}]), 1u);
  (*l)->Stop();
  EXPECT_EQ((*l)->stats().accepted, 1u);
  EXPECT_EQ(sink.size(), 0u);  // never handed to gRPC
}

TEST(ListenerScreenTest, H2cPrefaceGetsAGoawayThatSaysWhy) {
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Bind("127.0.0.1:0", {});
  ASSERT_TRUE(l.ok()) << l.status();
  auto log = std::make_shared<observe::HandshakeLog>(nullptr);
  (*l)->ScreenPlaintext(log, "grpc");
  Sink sink;
  (*l)->Start(sink.handoff());

  const int fd = Connect((*l)->port());
  ASSERT_GE(fd, 0);
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  ASSERT_EQ(send(fd, preface.data(), preface.size(), 0), static_cast<ssize_t>(preface.size()));
  const std::string answer = ReadAll(fd);
  close(fd);

  ASSERT_GE(answer.size(), 9u + 9u + 8u);
  EXPECT_EQ(answer[3], 0x04);      // SETTINGS
  EXPECT_EQ(answer[9 + 3], 0x07);  // GOAWAY
  EXPECT_NE(answer.find("this port speaks TLS"), std::string::npos);
  EXPECT_EQ((log->Counts()[{"grpc", "plaintext"}]), 1u);
}

TEST(ListenerScreenTest, TlsClientHelloIsHandedOverWithItsBytesUnread) {
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Bind("127.0.0.1:0", {});
  ASSERT_TRUE(l.ok()) << l.status();
  auto log = std::make_shared<observe::HandshakeLog>(nullptr);
  (*l)->ScreenPlaintext(log, "grpc");
  Sink sink;
  (*l)->Start(sink.handoff());

  const int fd = Connect((*l)->port());
  ASSERT_GE(fd, 0);
  const char hello[] = {0x16, 0x03, 0x01, 0x00, 0x05};
  ASSERT_EQ(send(fd, hello, sizeof(hello), 0), static_cast<ssize_t>(sizeof(hello)));

  ASSERT_TRUE(sink.WaitFor(1));
  EXPECT_TRUE(log->Counts().empty());
  close(fd);
}

}  // namespace
}  // namespace nodegate::rpc
