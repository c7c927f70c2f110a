// rpc::Server end to end on loopback: a real gRPC server core, a real Authorizer, real clients.
#include "rpc/server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "api/dice.pb.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "crypto/digest.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "testlib/temp_dir.h"

namespace nodegate::rpc {
namespace {

constexpr char kRoll[] = "/api.DiceService/RollDie";
constexpr char kWatch[] = "/grpc.health.v1.Health/Watch";
constexpr char kReflect[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
constexpr char kToken[] = "t0k-alice";

class OneTokenSource : public auth::CredentialSource {
 public:
  absl::StatusOr<uint64_t> Generation() override { return 1; }
  absl::StatusOr<auth::CredentialSnapshot> Load() override {
    auth::CredentialSnapshot s;
    auth::TokenCredential t;
    t.hash = crypto::Sha256(kToken);
    t.principal = "alice";
    t.roles = {"ops"};
    s.tokens[t.hash] = t;
    return s;
  }
};

// What a handler saw, handed to the test body under a lock. The handler runs on a server thread
// and the client learns that the call ended through the socket and gRPC's own (uninstrumented)
// synchronisation, which orders nothing TSan can see: the mutex does.
template <typename T>
class Seen {
 public:
  explicit Seen(T initial = T()) : value_(std::move(initial)) {}
  void Set(T value) {
    const std::lock_guard<std::mutex> lock(mu_);
    value_ = std::move(value);
  }
  template <typename F>
  void Update(F&& update) {
    const std::lock_guard<std::mutex> lock(mu_);
    update(value_);
  }
  T Get() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return value_;
  }

 private:
  mutable std::mutex mu_;
  T value_;
};

// A server core on 127.0.0.1:0 with insecure credentials (the core needs no auth hook), the
// methods the test put into `table`, and a policy: RollDie and the streams need the token,
// "/open.Svc/*" is public. Every test runs on both engines (engine h2 serves cleartext h2c to the
// loopback client, as its local listener does).
class ServerTest : public ::testing::TestWithParam<Engine> {
 protected:
  testlib::ScopedTempDir dir_;  // first: removed after the server and its access log
  void Start(int threads = 1, const std::string& access_log = "off") {
    cache_ =
        *auth::CredentialCache::Start(std::make_shared<OneTokenSource>(), absl::ZeroDuration());
    std::vector<auth::Rule> rules = {{"/open.Svc/*", true, 0, {}, "config"}};
    auth::AuthorizerOptions o;
    o.audience = "test-node";
    authorizer_ = std::shared_ptr<auth::Authorizer>(
        *auth::Authorizer::New(o, *auth::Policy::Build(rules, {}), cache_.get()));
    log_ = *observe::AccessLog::Open(access_log);
    metrics_ = std::make_shared<observe::Metrics>(table_->Names());
    ServerOptions options = options_;
    options.engine = GetParam();
    options.listeners.push_back({"127.0.0.1:0", server_credentials_, nullptr, "grpc", {}});
    options.threads = threads;
    options.blocking_threads = 2;
    auto server = Server::Start(options, table_, authorizer_, log_, metrics_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->ports()[0]),
                                   channel_credentials_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  // Opens /grpc.health.v1.Health/Watch as the token's principal.
  std::unique_ptr<grpc::ClientReader<grpc::health::v1::HealthCheckResponse>> Watch(
      grpc::ClientContext* ctx) {
    ctx->AddMetadata("authorization", std::string("Bearer ") + kToken);
    return grpc::health::v1::Health::NewStub(channel_)->Watch(
        ctx, grpc::health::v1::HealthCheckRequest());
  }

  // One unary call with raw bytes, so that any method name and any payload can be sent.
  grpc::Status Raw(const std::string& method, const std::string& payload, std::string* reply,
                   bool with_token = true) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (with_token) ctx.AddMetadata("authorization", std::string("Bearer ") + token_);
    grpc::Slice slice(payload);
    grpc::ByteBuffer request(&slice, 1);
    grpc::CompletionQueue cq;
    auto call = stub.PrepareUnaryCall(&ctx, method, request, &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    if (reply != nullptr && status.ok()) {
      std::vector<grpc::Slice> slices;
      (void)response.Dump(&slices);
      reply->clear();
      for (const grpc::Slice& s : slices)
        reply->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    return status;
  }

  grpc::Status Roll(api::RollDieResponse* out, bool with_token = true) {
    std::string reply;
    grpc::Status s = Raw(kRoll, api::RollDieRequest().SerializeAsString(), &reply, with_token);
    if (s.ok()) {
      EXPECT_TRUE(out->ParseFromString(reply));
    }
    return s;
  }

  // A unary call started on `cq`; Finish() delivers its status with tag `this`.
  struct Pending {
    grpc::ClientContext ctx;
    grpc::ByteBuffer response;
    grpc::Status status;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> call;
  };
  void StartRaw(Pending& p, const std::string& method, grpc::CompletionQueue& cq,
                absl::Duration timeout = absl::Seconds(10)) {
    p.ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    p.ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
    grpc::GenericStub stub(channel_);
    grpc::Slice slice(std::string{});
    grpc::ByteBuffer request(&slice, 1);
    p.call = stub.PrepareUnaryCall(&p.ctx, method, request, &cq);
    p.call->StartCall();
    p.call->Finish(&p.response, &p.status, &p);
  }

  // A blocking handler that holds its worker until released; counts the calls it ran.
  void AddHeldMethod() {
    table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
        kHeld, Execution::kBlocking,
        [this](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
          held_runs_.fetch_add(1);
          release_.WaitForNotificationWithTimeout(absl::Seconds(10));
          return absl::OkStatus();
        });
  }
  bool WaitForHeldRuns(int n) {
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (held_runs_.load() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
    return held_runs_.load() >= n;
  }

  // The access log's lines once `n` are out (each is written a moment after its client has the
  // status), parsed; waits at most 10 s.
  std::vector<nlohmann::json> WaitForLogLines(const std::string& path, size_t n) {
    std::vector<nlohmann::json> lines;
    for (absl::Time deadline = absl::Now() + absl::Seconds(10);;
         absl::SleepFor(absl::Milliseconds(5))) {
      log_->Flush();
      lines.clear();
      std::ifstream in(path);
      for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
      if (lines.size() >= n || absl::Now() >= deadline) return lines;
    }
  }

  static constexpr char kHeld[] = "/open.Svc/Held";
  // What Raw() sends as the bearer token, and the credentials of the listener and the channel.
  std::string token_ = kToken;
  std::shared_ptr<grpc::ServerCredentials> server_credentials_ = grpc::InsecureServerCredentials();
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials_ =
      grpc::InsecureChannelCredentials();
  std::atomic<int> held_runs_{0};
  absl::Notification release_;
  ServerOptions options_;
  std::shared_ptr<MethodTable> table_ = std::make_shared<MethodTable>();
  std::unique_ptr<auth::CredentialCache> cache_;
  std::shared_ptr<auth::Authorizer> authorizer_;
  std::shared_ptr<observe::AccessLog> log_;
  std::shared_ptr<observe::Metrics> metrics_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_P(ServerTest, RunsTheHandlerWithThePrincipalTheAuthorizerVerified) {
  Seen<std::string> seen;
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [&seen](const CallInfo& call, const api::RollDieRequest&, api::RollDieResponse* out) {
        seen.Set(call.principal.ToString() + " " + std::string(call.method));
        out->set_value(4);
        return absl::OkStatus();
      });
  Start();
  api::RollDieResponse r;
  ASSERT_TRUE(Roll(&r).ok());
  EXPECT_EQ(r.value(), 4);
  EXPECT_EQ(seen.Get(), "user:alice /api.DiceService/RollDie");
}

TEST_P(ServerTest, RefusesACallWithoutCredentialsBeforeItsHandlerRuns) {
  std::atomic<int> ran{0};
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [&ran](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
        ++ran;
        return absl::OkStatus();
      });
  std::string log_path = dir_.File("rpc-refused.log");
  Start(1, log_path);
  api::RollDieResponse r;
  grpc::Status s = Roll(&r, /*with_token=*/false);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ran.load(), 0);
  api::RollDieResponse r2;
  EXPECT_TRUE(Roll(&r2).ok());
  EXPECT_EQ(ran.load(), 1);
  // The line is written once the status is out, a moment after the client has it.
  std::stringstream lines;
  for (absl::Time deadline = absl::Now() + absl::Seconds(10); absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(5))) {
    log_->Flush();
    std::ifstream in(log_path);
    lines.str("");
    lines << in.rdbuf();
    if (lines.str().find("user:alice") != std::string::npos &&
        lines.str().find("UNAUTHENTICATED") != std::string::npos) {
      break;
    }
  }
  // The refused call is logged with its reason and, unlike the old auth hook, its peer address.
  EXPECT_NE(lines.str().find("\"status\":\"UNAUTHENTICATED\""), std::string::npos) << lines.str();
  EXPECT_NE(lines.str().find("no_credential"), std::string::npos) << lines.str();
  EXPECT_NE(lines.str().find("\"peer\":\"ipv4:127.0.0.1:"), std::string::npos) << lines.str();
  EXPECT_NE(lines.str().find("user:alice"), std::string::npos) << lines.str();
  EXPECT_EQ(lines.str().find(kToken), std::string::npos) << "the token must never be logged";
}

TEST_P(ServerTest, AnUnknownMethodIsUnimplementedOnlyWhenThePolicyLetsTheCallerIn) {
  Start();
  EXPECT_EQ(Raw("/open.Svc/Nope", "", nullptr, false).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // Default deny comes first: a stranger learns nothing about which methods exist.
  EXPECT_EQ(Raw("/secret.Svc/Nope", "", nullptr, false).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_P(ServerTest, AHandlerErrorReachesTheClientWithItsCodeAndMessage) {
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kBlocking,
      [](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
        return absl::NotFoundError("key not found");
      });
  Start();
  api::RollDieResponse r;
  grpc::Status s = Roll(&r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "key not found");
}

TEST_P(ServerTest, ARequestOverTheReceiveLimitIsResourceExhaustedBeforeItsHandler) {
  std::atomic<int> ran{0};
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [&ran](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
        ++ran;
        return absl::OkStatus();
      });
  options_.max_receive_message_bytes = 1024;
  Start();
  grpc::Status s = Raw(kRoll, std::string(4096, '\x00'), nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(ran.load(), 0);
  std::string reply;
  EXPECT_TRUE(Raw(kRoll, "", &reply).ok());  // within the limit, the next call on it is served
  EXPECT_EQ(ran.load(), 1);
}

TEST_P(ServerTest, AResponseOverTheSendLimitIsResourceExhausted) {
  table_->AddUnary<api::RollDieRequest, grpc::reflection::v1alpha::ServerReflectionResponse>(
      "/open.Svc/Big", Execution::kInline,
      [](const CallInfo&, const api::RollDieRequest& in,
         grpc::reflection::v1alpha::ServerReflectionResponse* out) {
        out->set_valid_host(std::string(in.ByteSizeLong() == 0 ? 4096 : 16, 'h'));
        return absl::OkStatus();
      });
  options_.max_send_message_bytes = 1024;
  Start();
  grpc::Status s = Raw("/open.Svc/Big", "", nullptr, false);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  std::string reply;  // any request bytes (an unknown field) ask for a small answer
  s = Raw("/open.Svc/Big", std::string("\x08\x06", 2), &reply, false);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.size(), 18u);
}

TEST_P(ServerTest, ARequestThatDoesNotParseIsInvalidArgument) {
  std::atomic<int> ran{0};
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [&ran](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
        ++ran;
        return absl::OkStatus();
      });
  Start();
  grpc::Status s = Raw(kRoll, std::string("\xff\xff\xff", 3), nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("api.RollDieRequest"), std::string::npos) << s.error_message();
  EXPECT_EQ(ran.load(), 0);
}

TEST_P(ServerTest, ABlockingHandlerDoesNotHoldUpInlineCallsOnTheSameQueue) {
  absl::Notification release;
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      "/open.Svc/Slow", Execution::kBlocking,
      [&release](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse* out) {
        release.WaitForNotificationWithTimeout(absl::Seconds(10));
        out->set_value(2);
        return absl::OkStatus();
      });
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse* out) {
        out->set_value(1);
        return absl::OkStatus();
      });
  Start(/*threads=*/1);
  grpc::Status slow;
  std::thread t([&] { slow = Raw("/open.Svc/Slow", "", nullptr); });
  // The one queue thread answers RollDie while the slow call waits on its worker.
  for (int i = 0; i < 20; ++i) {
    api::RollDieResponse r;
    ASSERT_TRUE(Roll(&r).ok());
  }
  release.Notify();
  t.join();
  EXPECT_TRUE(slow.ok()) << slow.error_message();
}

TEST_P(ServerTest, ABidiStreamAnswersEachMessageAndEndsOkWhenTheClientCloses) {
  table_->AddStream(
      kReflect,
      [](const CallInfo& call, const grpc::ByteBuffer& in, const std::shared_ptr<Stream>& out) {
        grpc::reflection::v1alpha::ServerReflectionRequest req;
        if (absl::Status s = Parse(in, &req); !s.ok()) return s;
        grpc::reflection::v1alpha::ServerReflectionResponse resp;
        resp.set_valid_host(req.host() + "@" + call.principal.id);
        out->Write(ToBuffer(resp));
        return absl::OkStatus();
      },
      /*finish_on_half_close=*/true);
  Start();
  grpc::reflection::v1alpha::ServerReflection::Stub stub(channel_);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
  auto stream = stub.ServerReflectionInfo(&ctx);
  for (const char* host : {"a", "b", "c"}) {
    grpc::reflection::v1alpha::ServerReflectionRequest req;
    req.set_host(host);
    ASSERT_TRUE(stream->Write(req));
    grpc::reflection::v1alpha::ServerReflectionResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.valid_host(), std::string(host) + "@alice");
  }
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse extra;
  EXPECT_FALSE(stream->Read(&extra));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_P(ServerTest, AServerStreamIsWrittenAndFinishedFromAnotherThread) {
  std::mutex mu;
  std::shared_ptr<Stream> held;
  absl::Notification subscribed;
  table_->AddStream(
      kWatch,
      [&](const CallInfo&, const grpc::ByteBuffer&, const std::shared_ptr<Stream>& out) {
        grpc::health::v1::HealthCheckResponse r;
        r.set_status(grpc::health::v1::HealthCheckResponse::SERVING);
        out->Write(ToBuffer(r));
        std::lock_guard<std::mutex> lock(mu);
        held = out;
        subscribed.Notify();
        return absl::OkStatus();
      },
      /*finish_on_half_close=*/false);
  Start();
  grpc::ClientContext ctx;
  auto reader = Watch(&ctx);
  grpc::health::v1::HealthCheckResponse r;
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  ASSERT_TRUE(subscribed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  std::thread other([&] {
    std::lock_guard<std::mutex> lock(mu);
    grpc::health::v1::HealthCheckResponse n;
    n.set_status(grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    held->Write(ToBuffer(n));
    held->Finish(absl::UnavailableError("draining"));
    held->Write(ToBuffer(n));  // after Finish: dropped
  });
  other.join();
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&r));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "draining");
  EXPECT_TRUE(held->done());
}

TEST_P(ServerTest, AStreamIsDoneOnceTheClientCancels) {
  Seen<std::shared_ptr<Stream>> seen;
  absl::Notification subscribed;
  table_->AddStream(
      kWatch,
      [&](const CallInfo&, const grpc::ByteBuffer&, const std::shared_ptr<Stream>& out) {
        seen.Set(out);
        subscribed.Notify();
        return absl::OkStatus();
      },
      /*finish_on_half_close=*/false);
  Start();
  grpc::ClientContext ctx;
  auto reader = Watch(&ctx);
  ASSERT_TRUE(subscribed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const std::shared_ptr<Stream> held = seen.Get();
  EXPECT_FALSE(held->done());
  ctx.TryCancel();
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!held->done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE(held->done());
  held->Write(grpc::ByteBuffer());  // the call is gone: dropped, no crash
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_P(ServerTest, MetricsCountEveryCallByCodeIncludingRefusedOnes) {
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
        return absl::OkStatus();
      });
  Start(/*threads=*/2);
  api::RollDieResponse r;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Roll(&r).ok());
  EXPECT_FALSE(Roll(&r, false).ok());
  // Each call is counted once its status is out, a moment after the client has it.
  for (absl::Time deadline = absl::Now() + absl::Seconds(10);
       metrics_->TotalCalls() < 6 && absl::Now() < deadline;) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(metrics_->TotalCalls(), 6u);
  std::string text = metrics_->RenderPrometheus();
  EXPECT_NE(text.find("code=\"UNAUTHENTICATED\""), std::string::npos) << text;
}

TEST_P(ServerTest, ShutdownLetsACallInFlightFinishWithinTheGrace) {
  absl::Notification started;
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      "/open.Svc/Slow", Execution::kBlocking,
      [&started](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse* out) {
        started.Notify();
        absl::SleepFor(absl::Milliseconds(300));
        out->set_value(6);
        return absl::OkStatus();
      });
  Start();
  grpc::Status slow;
  std::string reply;
  std::thread t([&] { slow = Raw("/open.Svc/Slow", "", &reply); });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  server_->Shutdown(absl::Seconds(5));
  t.join();
  EXPECT_TRUE(slow.ok()) << slow.error_message();
  api::RollDieResponse r;
  ASSERT_TRUE(r.ParseFromString(reply));
  EXPECT_EQ(r.value(), 6);
  // After shutdown nothing answers.
  EXPECT_FALSE(Raw("/open.Svc/Slow", "", nullptr).ok());
}

// The last call of a drain ends with its status alone on the wire: the stream closes while that
// status is being sent, and the connection, now empty, must not close before it is out. (Engine
// h2 once did: the client saw "Socket closed" instead of the status.)
TEST_P(ServerTest, AStreamFinishedDuringShutdownDeliversItsStatusBeforeTheConnectionCloses) {
  Seen<std::shared_ptr<Stream>> seen;
  table_->AddStream(
      kWatch,
      [&](const CallInfo&, const grpc::ByteBuffer&, const std::shared_ptr<Stream>& out) {
        seen.Set(out);
        grpc::health::v1::HealthCheckResponse r;
        r.set_status(grpc::health::v1::HealthCheckResponse::SERVING);
        out->Write(ToBuffer(r));
        return absl::OkStatus();
      },
      /*finish_on_half_close=*/false);
  Start();
  grpc::ClientContext ctx;
  auto reader = Watch(&ctx);
  grpc::health::v1::HealthCheckResponse r;
  ASSERT_TRUE(reader->Read(&r));  // the headers and the first message are out
  ASSERT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  std::thread stopper([&] { server_->Shutdown(absl::Seconds(10)); });
  // The client leaves READY when the server's GOAWAY arrives: the drain has begun.
  EXPECT_TRUE(channel_->WaitForStateChange(
      GRPC_CHANNEL_READY, std::chrono::system_clock::now() + std::chrono::seconds(10)));
  seen.Get()->Finish(absl::OkStatus());
  EXPECT_FALSE(reader->Read(&r));
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
  stopper.join();
}

TEST_P(ServerTest, RefusesAStreamOverTheNodeWideStreamCap) {
  table_->AddStream(
      kWatch,
      [](const CallInfo&, const grpc::ByteBuffer&, const std::shared_ptr<Stream>& out) {
        out->Write(ToBuffer(grpc::health::v1::HealthCheckResponse()));
        return absl::OkStatus();
      },
      /*finish_on_half_close=*/false);
  options_.max_streams = 1;
  Start();
  grpc::ClientContext first_ctx;
  auto first = Watch(&first_ctx);
  grpc::health::v1::HealthCheckResponse r;
  ASSERT_TRUE(first->Read(&r));

  grpc::ClientContext second_ctx;
  auto second = Watch(&second_ctx);
  EXPECT_FALSE(second->Read(&r));
  grpc::Status refused = second->Finish();

  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(server_->stats().refused_streams, 1u);
  EXPECT_EQ(server_->stats().streams_open, 1u);
  first_ctx.TryCancel();
  (void)first->Finish();
}

TEST_P(ServerTest, RefusesABlockingCallWhenTheWorkerQueueIsFull) {
  AddHeldMethod();
  options_.max_queued_blocking = 1;
  Start();
  grpc::CompletionQueue cq;
  Pending busy[2], queued[2];
  for (int i = 0; i < 2; ++i) {  // one at a time: each is taken by a worker before the next
    StartRaw(busy[i], kHeld, cq);
    ASSERT_TRUE(WaitForHeldRuns(i + 1));
  }

  for (Pending& p : queued) StartRaw(p, kHeld, cq);  // one fits the queue, one does not
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  Pending* first_done = static_cast<Pending*>(tag);
  release_.Notify();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cq.Next(&tag, &ok));

  EXPECT_EQ(first_done->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(queued[0].status.ok() != queued[1].status.ok());
  EXPECT_EQ(server_->stats().refused_queue_full, 1u);
  EXPECT_EQ(held_runs_.load(), 3);
}

TEST_P(ServerTest, DoesNotRunAQueuedCallWhoseDeadlinePassed) {
  AddHeldMethod();
  Start();
  grpc::CompletionQueue cq;
  Pending busy[2], late;
  for (int i = 0; i < 2; ++i) {  // one at a time: each is taken by a worker before the next
    StartRaw(busy[i], kHeld, cq);
    ASSERT_TRUE(WaitForHeldRuns(i + 1));
  }
  StartRaw(late, kHeld, cq, absl::Milliseconds(200));
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));  // the client gives up on `late` first
  ASSERT_EQ(tag, &late);
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  absl::SleepFor(absl::Milliseconds(100));  // the server's copy of the deadline passes too

  release_.Notify();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(cq.Next(&tag, &ok));
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server_->stats().skipped_expired == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }

  EXPECT_EQ(server_->stats().skipped_expired, 1u);
  EXPECT_EQ(held_runs_.load(), 2);
}

TEST_P(ServerTest, RateLimitsAnonymousCallsToPublicMethodsButNotAuthenticatedCalls) {
  constexpr char kPublic[] = "/open.Svc/Ping";  // public by the fixture's rule
  for (const char* name : {kPublic, kRoll}) {
    table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
        name, Execution::kInline,
        [](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
          return absl::OkStatus();
        });
  }
  options_.anonymous_rate = 1;  // burst 2
  Start();
  ASSERT_TRUE(Raw(kPublic, "", nullptr, /*with_token=*/false).ok());
  ASSERT_TRUE(Raw(kPublic, "", nullptr, /*with_token=*/false).ok());

  grpc::Status third = Raw(kPublic, "", nullptr, /*with_token=*/false);

  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  api::RollDieResponse r;
  EXPECT_TRUE(Roll(&r, /*with_token=*/true).ok());  // a method that needs a principal
  EXPECT_EQ(server_->stats().refused_anonymous_rate, 1u);
}

TEST(ServerStartTest, NamesTheAddressItCannotBind) {
  auto cache =
      *auth::CredentialCache::Start(std::make_shared<OneTokenSource>(), absl::ZeroDuration());
  auth::AuthorizerOptions o;
  o.audience = "test-node";
  std::shared_ptr<auth::Authorizer> authorizer(
      *auth::Authorizer::New(o, *auth::Policy::Build({}, {}), cache.get()));
  ServerOptions options;
  options.listeners.push_back(
      {"192.0.2.1:1", grpc::InsecureServerCredentials(), nullptr, "grpc", {}});
  auto server =
      Server::Start(options, std::make_shared<MethodTable>(), authorizer, nullptr, nullptr);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(server.status().message().find("192.0.2.1:1"), absl::string_view::npos);
  EXPECT_FALSE(
      Server::Start(ServerOptions{}, std::make_shared<MethodTable>(), authorizer, nullptr, nullptr)
          .ok());
}

namespace more {

// Waits until the metrics hold `n` calls, then returns the Prometheus text.
std::string CountedCalls(observe::Metrics& metrics, uint64_t n) {
  for (absl::Time deadline = absl::Now() + absl::Seconds(10);
       metrics.TotalCalls() < n && absl::Now() < deadline;) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(metrics.TotalCalls(), n);
  return metrics.RenderPrometheus();
}

}  // namespace more

TEST_P(ServerTest, ACancelledBidiStreamIsRecordedCancelledNotOk) {
  table_->AddStream(
      kReflect,
      [](const CallInfo&, const grpc::ByteBuffer&, const std::shared_ptr<Stream>& out) {
        out->Write(ToBuffer(grpc::reflection::v1alpha::ServerReflectionResponse()));
        return absl::OkStatus();
      },
      /*finish_on_half_close=*/true);
  Start();
  grpc::reflection::v1alpha::ServerReflection::Stub stub(channel_);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
  auto stream = stub.ServerReflectionInfo(&ctx);
  ASSERT_TRUE(stream->Write(grpc::reflection::v1alpha::ServerReflectionRequest()));
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));

  ctx.TryCancel();

  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  std::string text = more::CountedCalls(*metrics_, 1);
  EXPECT_NE(text.find("code=\"CANCELLED\""), std::string::npos) << text;
  EXPECT_EQ(text.find("code=\"OK\""), std::string::npos) << text;
}

TEST_P(ServerTest, ABlockingHandlerThatOverrunsTheDeadlineIsRecordedDeadlineExceeded) {
  absl::Notification done;
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kBlocking,
      [&done](const CallInfo& call, const api::RollDieRequest&, api::RollDieResponse*) {
        absl::SleepFor(call.deadline + absl::Milliseconds(100) - absl::Now());
        done.Notify();
        return absl::OkStatus();
      });
  Start();
  grpc::CompletionQueue cq;
  Pending p;

  StartRaw(p, kRoll, cq, absl::Milliseconds(200));

  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(p.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  std::string text = more::CountedCalls(*metrics_, 1);
  EXPECT_NE(text.find("code=\"DEADLINE_EXCEEDED\""), std::string::npos) << text;
}

TEST_P(ServerTest, AUnaryHandlerReadsRequestMetadataAndSetsInitialAndTrailingMetadata) {
  Seen<absl::Time> seen_deadline;
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [&](const CallInfo& call, const api::RollDieRequest&, api::RollDieResponse*) {
        seen_deadline.Set(call.deadline);
        call.response_metadata.AddInitial("x-echo", call.FindMetadata("x-in").value_or("none"));
        call.response_metadata.AddTrailing("x-echo-bin",
                                           call.FindMetadata("x-in-bin").value_or("none"));
        return absl::PermissionDeniedError("trailing metadata goes out with an error too");
      });
  Start();
  grpc::GenericStub stub(channel_);
  grpc::ClientContext ctx;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
  ctx.set_deadline(deadline);
  ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
  ctx.AddMetadata("x-in", "hello");
  ctx.AddMetadata("x-in-bin", std::string("\x00\xff", 2));
  grpc::Slice slice(std::string{});
  grpc::ByteBuffer request(&slice, 1);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, kRoll, request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, nullptr);
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));

  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto initial = ctx.GetServerInitialMetadata().find("x-echo");
  ASSERT_NE(initial, ctx.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(initial->second.data(), initial->second.size()), "hello");
  auto trailing = ctx.GetServerTrailingMetadata().find("x-echo-bin");
  ASSERT_NE(trailing, ctx.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(trailing->second.data(), trailing->second.size()),
            std::string("\x00\xff", 2));
  EXPECT_LT(absl::AbsDuration(seen_deadline.Get() - absl::FromChrono(deadline)), absl::Seconds(1));
}

TEST_P(ServerTest, AStreamHandlerKeepsPerCallStateAndAnswersAtHalfClose) {
  // Counts the messages of its own call and answers the count when the client half-closes.
  class Counter : public StreamHandler {
   public:
    absl::Status OnStart(const CallInfo& call, const std::shared_ptr<Stream>&) override {
      EXPECT_EQ(call.deadline, absl::InfiniteFuture());
      call.response_metadata.AddInitial("x-started", "1");
      call.response_metadata.AddTrailing("x-ended", "1");
      return absl::OkStatus();
    }
    absl::Status OnMessage(const CallInfo&, const grpc::ByteBuffer&,
                           const std::shared_ptr<Stream>&) override {
      ++count_;
      return absl::OkStatus();
    }
    absl::Status OnHalfClose(const CallInfo&, const std::shared_ptr<Stream>& out) override {
      grpc::reflection::v1alpha::ServerReflectionResponse r;
      r.set_valid_host(std::to_string(count_));
      out->Write(ToBuffer(r));
      out->Finish(absl::OkStatus());
      return absl::OkStatus();
    }

   private:
    int count_ = 0;
  };
  table_->AddStreamHandler(kReflect, [] { return std::make_unique<Counter>(); });
  Start();
  grpc::reflection::v1alpha::ServerReflection::Stub stub(channel_);
  for (int n : {3, 1}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
    auto stream = stub.ServerReflectionInfo(&ctx);
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(stream->Write(grpc::reflection::v1alpha::ServerReflectionRequest()));
    }
    stream->WritesDone();
    grpc::reflection::v1alpha::ServerReflectionResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.valid_host(), std::to_string(n));
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_EQ(ctx.GetServerInitialMetadata().count("x-started"), 1u);
    EXPECT_EQ(ctx.GetServerTrailingMetadata().count("x-ended"), 1u);
  }
}

TEST_P(ServerTest, MetadataHttp2CannotCarryIsDroppedAndTheCallStillCompletes) {
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [](const CallInfo& call, const api::RollDieRequest&, api::RollDieResponse* out) {
        call.response_metadata.AddInitial("Upper-Case", "v");
        call.response_metadata.AddInitial("x-newline", "a\r\nb");
        call.response_metadata.AddTrailing("grpc-status", "0");
        call.response_metadata.AddTrailing("x-ok", "kept");
        out->set_value(3);
        return absl::OkStatus();
      });
  Start();
  grpc::GenericStub stub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ctx.AddMetadata("authorization", std::string("Bearer ") + kToken);
  grpc::Slice slice(std::string{});
  grpc::ByteBuffer request(&slice, 1);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, kRoll, request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, nullptr);
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));

  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(ctx.GetServerInitialMetadata().count("x-newline"), 0u);
  EXPECT_EQ(ctx.GetServerTrailingMetadata().count("x-ok"), 1u);
}

// The call's identity, as the handler and the access log see it, comes from the one decision taken
// at dispatch: nothing re-derives it later, and nothing carries it from one call to the next.

TEST_P(ServerTest, AnAllowedCallIsLoggedAndCountedOnceWithThePrincipalAndItsHandlersStatus) {
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
        return absl::FailedPreconditionError("no dice");
      });
  std::string log_path = dir_.File("rpc-allowed.log");
  Start(1, log_path);
  api::RollDieResponse r;

  grpc::Status s = Roll(&r);

  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  std::vector<nlohmann::json> lines = WaitForLogLines(log_path, 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["method"], kRoll);
  EXPECT_EQ(lines[0]["code"], 9);
  EXPECT_EQ(lines[0]["status"], "FAILED_PRECONDITION");
  EXPECT_EQ(lines[0]["principal"], "user:alice");
  EXPECT_NE(lines[0]["user_agent"].get<std::string>().find("grpc-c++/"), std::string::npos);
  EXPECT_NE(lines[0]["peer"].get<std::string>().find("127.0.0.1"), std::string::npos);
  EXPECT_FALSE(lines[0].contains("reason")) << "an allowed call has no refusal reason";
  std::string text = more::CountedCalls(*metrics_, 1);
  EXPECT_NE(text.find("nodegate_grpc_calls_total{method=\"/api.DiceService/RollDie\","
                      "code=\"FAILED_PRECONDITION\"} 1\n"),
            std::string::npos)
      << text;
}

TEST_P(ServerTest, RefusesAWrongTokenWithoutEchoingItToTheClientOrTheLog) {
  constexpr char kWrong[] = "ngt_wrong-token-fedcba9876543210";
  std::atomic<int> ran{0};
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [&ran](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
        ++ran;
        return absl::OkStatus();
      });
  std::string log_path = dir_.File("rpc-wrong-token.log");
  Start(1, log_path);
  token_ = kWrong;
  api::RollDieResponse r;

  grpc::Status s = Roll(&r);

  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message(), "token: unknown or revoked");
  EXPECT_EQ(ran.load(), 0);
  std::vector<nlohmann::json> lines = WaitForLogLines(log_path, 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["status"], "UNAUTHENTICATED");
  EXPECT_EQ(lines[0]["reason"].get<std::string>().rfind("token_invalid", 0), 0u) << lines[0].dump();
  EXPECT_EQ(lines[0].dump().find(kWrong), std::string::npos) << "the token must never be logged";
  EXPECT_EQ(authorizer_->rejections(auth::Rejection::kTokenInvalid), 1u);
}

TEST_P(ServerTest, APublicMethodRunsItsHandlerWithAnUnauthenticatedPrincipal) {
  Seen<std::string> seen("not run");
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      "/open.Svc/Ping", Execution::kInline,
      [&seen](const CallInfo& call, const api::RollDieRequest&, api::RollDieResponse*) {
        seen.Set(call.principal.authenticated() ? call.principal.ToString() : "unauthenticated");
        return absl::OkStatus();
      });
  Start();

  grpc::Status s = Raw("/open.Svc/Ping", "", nullptr, /*with_token=*/false);

  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(seen.Get(), "unauthenticated");
}

TEST_P(ServerTest, AnEarlierCallersIdentityDoesNotCarryOverToTheNextCallOnTheConnection) {
  Seen<std::vector<std::string>> seen;
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [&seen](const CallInfo& call, const api::RollDieRequest&, api::RollDieResponse*) {
        seen.Update([&](std::vector<std::string>& v) { v.push_back(call.principal.ToString()); });
        return absl::OkStatus();
      });
  Start();
  api::RollDieResponse r;
  ASSERT_TRUE(Roll(&r).ok());

  grpc::Status second = Roll(&r, /*with_token=*/false);  // same channel, same connection

  EXPECT_EQ(second.error_code(), grpc::StatusCode::UNAUTHENTICATED) << second.error_message();
  EXPECT_EQ(seen.Get(), std::vector<std::string>{"user:alice"});
  EXPECT_EQ(authorizer_->rejections(auth::Rejection::kNoCredential), 1u);
}

TEST_P(ServerTest, ALocalTransportAloneDoesNotAuthenticate) {
  // grpc.local_listen's credentials: the connection is "local" to gRPC, but that names no caller,
  // so the mtls authenticator must not take it for a verified certificate.
  server_credentials_ = grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  channel_credentials_ = grpc::experimental::LocalCredentials(LOCAL_TCP);
  std::atomic<int> ran{0};
  table_->AddUnary<api::RollDieRequest, api::RollDieResponse>(
      kRoll, Execution::kInline,
      [&ran](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
        ++ran;
        return absl::OkStatus();
      });
  Start();
  api::RollDieResponse r;

  grpc::Status bare = Roll(&r, /*with_token=*/false);

  EXPECT_EQ(bare.error_code(), grpc::StatusCode::UNAUTHENTICATED) << bare.error_message();
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(authorizer_->rejections(auth::Rejection::kNoCredential), 1u);
  EXPECT_TRUE(Roll(&r).ok()) << "the listener serves calls that do carry a credential";
  EXPECT_EQ(ran.load(), 1);
}

INSTANTIATE_TEST_SUITE_P(Engines, ServerTest, ::testing::Values(Engine::kGrpc, Engine::kH2),
                         [](const ::testing::TestParamInfo<Engine>& info) {
                           return info.param == Engine::kH2 ? "h2" : "grpc";
                         });

}  // namespace
}  // namespace nodegate::rpc
