// The library route for users with their own grpc::ServerBuilder (README "Library"): AuthProcessor
// decides each call in gRPC's auth hook before the handler runs, and CallPrincipal lets the handler
// re-derive who is calling. Exercised through a real server and client over loopback: local-TCP
// credentials, because an AuthMetadataProcessor on insecure credentials aborts (facts §4, §12).
#include "auth/auth_processor.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/dice.grpc.pb.h"
#include "auth/call_principal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace nodegate::auth {
namespace {

using ::nodegate::auth::testing::MemorySource;
using ::nodegate::auth::testing::Token;
using ::nodegate::auth::testing::Unwrap;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kRollDie[] = "/api.DiceService/RollDie";
constexpr char kAliceToken[] = "ngt_alice-token-0123456789abcdef";
constexpr char kWrongToken[] = "ngt_wrong-token-fedcba9876543210";

// What the processor's on_reject saw, copied out: RejectedCall's views die with the callback.
struct Refusal {
  std::string method;
  Rejection rejection;
  std::string message;
  std::string detail;
};

// Records the Principal the handler derives; never decides anything itself.
class RecordingDice final : public api::DiceService::CallbackService {
 public:
  explicit RecordingDice(const Authorizer* authorizer) : authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* RollDie(grpc::CallbackServerContext* context,
                                    const api::RollDieRequest* /*request*/,
                                    api::RollDieResponse* response) override {
    Principal p = CallPrincipal(*authorizer_, *context, kRollDie);
    {
      std::lock_guard<std::mutex> lock(mu_);
      principals_.push_back(std::move(p));
    }
    response->set_value(4);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  std::vector<Principal> principals() {
    std::lock_guard<std::mutex> lock(mu_);
    return principals_;
  }

 private:
  const Authorizer* authorizer_;
  std::mutex mu_;
  std::vector<Principal> principals_;
};

// A real grpc::Server carrying AuthProcessor over a real Authorizer, and a stub connected to it.
class DiceServer {
 public:
  explicit DiceServer(std::vector<Rule> rules) {
    CredentialSnapshot snapshot;
    snapshot.tokens.emplace(crypto::Sha256(kAliceToken), Token(kAliceToken, "alice"));
    source_ = std::make_shared<MemorySource>();
    source_->Set(std::move(snapshot));
    cache_ = Unwrap(CredentialCache::Start(source_, absl::ZeroDuration()));
    AuthorizerOptions options;
    options.audience = "node-server";
    authorizer_ = Unwrap(Authorizer::New(
        std::move(options), Unwrap(Policy::Build(std::move(rules), {})), cache_.get()));
    service_ = std::make_unique<RecordingDice>(authorizer_.get());

    std::shared_ptr<grpc::ServerCredentials> creds =
        grpc::experimental::LocalServerCredentials(LOCAL_TCP);
    creds->SetAuthMetadataProcessor(
        std::make_shared<AuthProcessor>(authorizer_, [this](const RejectedCall& call) {
          std::lock_guard<std::mutex> lock(mu_);
          refusals_.push_back(Refusal{std::string(call.method), call.decision->rejection,
                                      call.decision->status.error_message(),
                                      call.decision->detail});
        }));
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", creds, &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    EXPECT_GT(port, 0);
    stub_ = api::DiceService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::experimental::LocalCredentials(LOCAL_TCP)));
  }

  ~DiceServer() {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  // One RollDie; `authorization` is sent as that header when not empty.
  grpc::Status Roll(const std::string& authorization = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    api::RollDieResponse response;
    return stub_->RollDie(&context, api::RollDieRequest(), &response);
  }

  std::vector<Principal> handler_principals() { return service_->principals(); }
  std::vector<Refusal> refusals() {
    std::lock_guard<std::mutex> lock(mu_);
    return refusals_;
  }

 private:
  std::shared_ptr<MemorySource> source_;
  std::unique_ptr<CredentialCache> cache_;
  std::shared_ptr<Authorizer> authorizer_;
  std::unique_ptr<RecordingDice> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<api::DiceService::Stub> stub_;
  std::mutex mu_;
  std::vector<Refusal> refusals_;
};

std::vector<Rule> TokenRequired() { return {Rule{kRollDie, false, kToken, {}, "config"}}; }

TEST(AuthProcessorTest, RefusesACallWithoutCredentialsBeforeTheHandlerRuns) {
  DiceServer server(TokenRequired());

  grpc::Status status = server.Roll();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_THAT(server.handler_principals(), IsEmpty());
  std::vector<Refusal> refusals = server.refusals();
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].method, kRollDie);
  EXPECT_EQ(refusals[0].rejection, Rejection::kNoCredential)
      << RejectionName(refusals[0].rejection);
}

TEST(AuthProcessorTest, AllowsAValidBearerTokenAndTheHandlerDerivesTheUser) {
  DiceServer server(TokenRequired());

  grpc::Status status = server.Roll(absl::StrCat("Bearer ", kAliceToken));

  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  std::vector<Principal> seen = server.handler_principals();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].ToString(), "user:alice");
  EXPECT_EQ(seen[0].authenticators, kToken);
  EXPECT_THAT(server.refusals(), IsEmpty());
}

TEST(AuthProcessorTest, RefusesAWrongTokenWithoutEchoingIt) {
  DiceServer server(TokenRequired());

  grpc::Status status = server.Roll(absl::StrCat("Bearer ", kWrongToken));

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_THAT(status.error_message(), Not(HasSubstr(kWrongToken)));
  EXPECT_THAT(server.handler_principals(), IsEmpty());
  std::vector<Refusal> refusals = server.refusals();
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].method, kRollDie);
  EXPECT_EQ(refusals[0].rejection, Rejection::kTokenInvalid)
      << RejectionName(refusals[0].rejection);
  // What on_reject hands the access log carries no secret either.
  EXPECT_THAT(refusals[0].message, Not(HasSubstr(kWrongToken)));
  EXPECT_THAT(refusals[0].detail, Not(HasSubstr(kWrongToken)));
}

TEST(AuthProcessorTest, PublicMethodRunsWithAnUnauthenticatedPrincipal) {
  DiceServer server({Rule{kRollDie, true, 0, {}, "config"}});

  grpc::Status status = server.Roll();

  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  std::vector<Principal> seen = server.handler_principals();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Principal::Kind::kNone);
  EXPECT_FALSE(seen[0].authenticated());
  EXPECT_EQ(seen[0].ToString(), "");
  EXPECT_THAT(server.refusals(), IsEmpty());
}

// The local-TCP connection's AuthContext has no certificate: the mtls authenticator must not
// mistake "local" for a verified peer on a method that accepts any authenticator.
TEST(AuthProcessorTest, LocalTransportAloneDoesNotAuthenticate) {
  DiceServer server({Rule{kRollDie, false, 0, {}, "config"}});

  grpc::Status status = server.Roll();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_THAT(server.handler_principals(), IsEmpty());
  std::vector<Refusal> refusals = server.refusals();
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].rejection, Rejection::kNoCredential)
      << RejectionName(refusals[0].rejection);
}

TEST(AuthProcessorTest, ConnectionReuseDoesNotCarryAnEarlierCallersIdentity) {
  // The AuthContext belongs to the connection (facts §4): a call without a token that follows an
  // allowed one on the same channel must still be refused, and not be named after the first.
  DiceServer server(TokenRequired());

  ASSERT_TRUE(server.Roll(absl::StrCat("Bearer ", kAliceToken)).ok());
  grpc::Status second = server.Roll();

  EXPECT_EQ(second.error_code(), grpc::StatusCode::UNAUTHENTICATED) << second.error_message();
  std::vector<Principal> seen = server.handler_principals();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].ToString(), "user:alice");
  std::vector<Refusal> refusals = server.refusals();
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].rejection, Rejection::kNoCredential);
}

}  // namespace
}  // namespace nodegate::auth
