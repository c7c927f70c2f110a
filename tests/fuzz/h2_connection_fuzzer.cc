// Fuzzes engine h2's connection as a peer sees it: raw HTTP/2 frames, after the client preface,
// into a real rpc::Server (engine h2, cleartext h2c on loopback) with public and token-guarded
// unary methods, a blocking one, and streams. So nghttp2 parses the bytes and every callback of
// ours above it runs: header collection and limits, grpc-timeout, -bin metadata, the message
// reader, authorisation, admission, RST_STREAM, GOAWAY, the response path and the teardown.
//
// One input is one connection: the preface, the input, then the write side is shut. The server
// must then end the connection by itself (within kEndLimit), and once it has, hold no open
// stream: a slot leaked here would, repeated, lock every client out of the node-wide stream cap.
// A Connection that is never freed is LeakSanitizer's to report, at exit. A crash, a sanitizer
// report, or either promise broken stops the fuzzer. The seeds (corpus/h2_connection/README) are
// conversations written with python3-h2.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/dice.pb.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "crypto/digest.h"
#include "rpc/method_table.h"
#include "rpc/server.h"

namespace {

using namespace nodegate;  // NOLINT(google-build-using-namespace)

constexpr char kToken[] = "ngt_fuzz-token-0123456789abcdef";
constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// How long the server may take to end a connection whose peer has finished writing, and then to
// release its streams. Far above what it needs (milliseconds), so that only a connection or a
// stream that is never released trips it, not a slow sanitizer build.
constexpr absl::Duration kEndLimit = absl::Seconds(5);

class OneTokenSource : public auth::CredentialSource {
 public:
  absl::StatusOr<uint64_t> Generation() override { return 1; }
  absl::StatusOr<auth::CredentialSnapshot> Load() override {
    auth::CredentialSnapshot s;
    auth::TokenCredential t;
    t.hash = crypto::Sha256(kToken);
    t.principal = "fuzz";
    t.roles = {"ops"};
    s.tokens[t.hash] = t;
    return s;
  }
};

// Echoes each message back and ends on half-close, or on a message of one byte 'x' with an error.
class Echo : public rpc::StreamHandler {
 public:
  absl::Status OnMessage(const rpc::CallInfo&, const grpc::ByteBuffer& request,
                         const std::shared_ptr<rpc::Stream>& stream) override {
    if (request.Length() == 1) return absl::FailedPreconditionError("one byte ends the stream");
    stream->Write(request);
    return absl::OkStatus();
  }
};

struct Fixture {
  std::unique_ptr<auth::CredentialCache> cache;
  std::shared_ptr<auth::Authorizer> authorizer;
  std::unique_ptr<rpc::Server> server;
  sockaddr_in address{};
};

Fixture* fixture = nullptr;

void StopFixture() {
  if (fixture == nullptr) return;
  fixture->server->Shutdown(absl::ZeroDuration());
  delete fixture;
  fixture = nullptr;
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "h2_connection_fuzzer: %s\n", what);
  std::abort();
}

Fixture* Start() {
  auto f = std::make_unique<Fixture>();
  auto cache =
      auth::CredentialCache::Start(std::make_shared<OneTokenSource>(), absl::ZeroDuration());
  if (!cache.ok()) Fail("credential cache");
  f->cache = *std::move(cache);
  std::vector<auth::Rule> rules = {{"/open.Svc/*", true, 0, {}, "config"}};
  auto policy = auth::Policy::Build(rules, {});
  if (!policy.ok()) Fail("policy");
  auth::AuthorizerOptions o;
  o.audience = "fuzz-node";
  auto authorizer = auth::Authorizer::New(o, *std::move(policy), f->cache.get());
  if (!authorizer.ok()) Fail("authorizer");
  f->authorizer = std::shared_ptr<auth::Authorizer>(*std::move(authorizer));

  auto table = std::make_shared<rpc::MethodTable>();
  const auto roll = [](const rpc::CallInfo& call, const api::RollDieRequest&,
                       api::RollDieResponse* out) {
    call.response_metadata.AddInitial("x-seen", call.FindMetadata("x-in").value_or(""));
    call.response_metadata.AddTrailing("x-seen-bin", call.FindMetadata("x-in-bin").value_or(""));
    out->set_value(4);
    return absl::OkStatus();
  };
  table->AddUnary<api::RollDieRequest, api::RollDieResponse>("/api.DiceService/RollDie",
                                                             rpc::Execution::kInline, roll);
  table->AddUnary<api::RollDieRequest, api::RollDieResponse>("/open.Svc/Roll",
                                                             rpc::Execution::kInline, roll);
  table->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      "/open.Svc/Blocking", rpc::Execution::kBlocking,
      [](const rpc::CallInfo&, const api::RollDieRequest& in, api::RollDieResponse* out) {
        if (in.ByteSizeLong() > 4) return absl::InvalidArgumentError("too big a die");
        out->set_value(2);
        return absl::OkStatus();
      });
  table->AddStreamHandler("/open.Svc/Echo", [] { return std::make_unique<Echo>(); });
  // A watch: written once, finished only by the client going away.
  table->AddStream(
      "/open.Svc/Watch",
      [](const rpc::CallInfo&, const grpc::ByteBuffer& request,
         const std::shared_ptr<rpc::Stream>& out) {
        out->Write(request);
        return absl::OkStatus();
      },
      /*finish_on_half_close=*/false);

  rpc::ServerOptions options;
  options.engine = rpc::Engine::kH2;
  options.listeners.push_back(
      {"127.0.0.1:0", grpc::InsecureServerCredentials(), nullptr, "grpc", {}});
  options.threads = 1;
  options.blocking_threads = 1;
  // Small bounds, so that short inputs reach them.
  options.max_concurrent_streams = 8;
  options.max_streams = 16;
  options.max_receive_message_bytes = 1024;
  options.max_send_message_bytes = 1024;
  options.max_header_list_bytes = 1024;
  options.max_buffered_bytes = 4096;
  auto server = rpc::Server::Start(options, table, f->authorizer, nullptr, nullptr);
  if (!server.ok()) {
    std::fprintf(stderr, "h2_connection_fuzzer: %s\n", server.status().ToString().c_str());
    std::abort();
  }
  f->server = *std::move(server);
  f->address.sin_family = AF_INET;
  f->address.sin_port = htons(static_cast<uint16_t>(f->server->ports()[0]));
  f->address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return f.release();
}

void SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // the server closed or reset first: allowed, it owes us nothing more
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads until the server ends the connection; false if it has not within the limit.
bool ReadUntilClosed(int fd) {
  const absl::Time until = absl::Now() + kEndLimit;
  char buf[16384];
  while (absl::Now() < until) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;  // reset
  }
  return false;
}

bool Released(const rpc::Server& server) {
  const absl::Time until = absl::Now() + kEndLimit;
  for (;;) {
    const rpc::ServerStats s = server.stats();
    if (s.streams_open == 0) return true;
    if (absl::Now() >= until) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (fixture == nullptr) {
    fixture = Start();
    std::atexit(StopFixture);  // before any static this process built earlier is destroyed
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket");
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const timeval tick{0, 100'000};  // recv/send wake up to check the limit
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof tick);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&fixture->address), sizeof fixture->address) !=
      0) {
    Fail("connect to the engine's loopback listener");
  }
  std::string bytes(kPreface, sizeof kPreface - 1);
  bytes.append(reinterpret_cast<const char*>(data), size);
  SendAll(fd, bytes);
  shutdown(fd, SHUT_WR);
  if (!ReadUntilClosed(fd)) Fail("the connection stayed open after the peer finished writing");
  close(fd);
  if (!Released(*fixture->server)) Fail("a stream was not released after its connection ended");
  return 0;
}
