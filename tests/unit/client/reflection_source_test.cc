// The client against the node's own server core on loopback: rpc::Server with the node's
// ReflectionService and DiceService, a real Authorizer (reflection needs a token, as on a node),
// and two grpc.testing streaming methods registered by the test.
#include "client/reflection_source.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <string>
#include <vector>

#include "client/describe.h"
#include "client/dynamic_call.h"
#include "client/json_messages.h"
#include "client/rpc_error.h"
#include "gmock/gmock.h"
#include "google/protobuf/dynamic_message.h"
#include "grpc/testing/messages.pb.h"
#include "grpc/testing/test.pb.h"
#include "gtest/gtest.h"
#include "rpc/message.h"
#include "rpc/method_table.h"
#include "rpc/server.h"
#include "services/dice.h"
#include "services/reflection.h"
#include "testlib/auth.h"

namespace nodegate::client {
namespace {

namespace gt = ::grpc::testing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kTestService[] = "/grpc.testing.TestService/";

// StreamingInputCall: the sum of the payload sizes once the client half-closes.
class SumHandler : public rpc::StreamHandler {
 public:
  absl::Status OnMessage(const rpc::CallInfo&, const grpc::ByteBuffer& in,
                         const std::shared_ptr<rpc::Stream>&) override {
    gt::StreamingInputCallRequest request;
    if (absl::Status s = rpc::Parse(in, &request); !s.ok()) return s;
    total_ += static_cast<int32_t>(request.payload().body().size());
    return absl::OkStatus();
  }
  absl::Status OnHalfClose(const rpc::CallInfo&,
                           const std::shared_ptr<rpc::Stream>& stream) override {
    gt::StreamingInputCallResponse response;
    response.set_aggregated_payload_size(total_);
    stream->Write(rpc::ToBuffer(response));
    stream->Finish(absl::OkStatus());
    return absl::OkStatus();
  }

 private:
  int32_t total_ = 0;
};

// StreamingOutputCall: one response per response_parameters entry, of that size.
class RepeatHandler : public rpc::StreamHandler {
 public:
  absl::Status OnMessage(const rpc::CallInfo&, const grpc::ByteBuffer& in,
                         const std::shared_ptr<rpc::Stream>& stream) override {
    gt::StreamingOutputCallRequest request;
    if (absl::Status s = rpc::Parse(in, &request); !s.ok()) return s;
    for (const gt::ResponseParameters& p : request.response_parameters()) {
      gt::StreamingOutputCallResponse out;
      out.mutable_payload()->set_body(std::string(p.size(), 'x'));
      stream->Write(rpc::ToBuffer(out));
    }
    return absl::OkStatus();
  }
};

class ReflectionSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A static library's generated file is in the generated pool (which the node's reflection
    // serves) only when something refers to it: test.proto defines no message of its own.
    const void* volatile link_test_proto = &descriptor_table_grpc_2ftesting_2ftest_2eproto;
    (void)link_test_proto;
    auth_ = testlib::ServicePolicyAuth::Make({testlib::PublicRule("/api.DiceService/*"),
                                              testlib::PublicRule("/grpc.testing.TestService/*")});
    dice_.Register(*table_);
    reflection_.Register(*table_);
    table_->AddStreamHandler(std::string(kTestService) + "StreamingInputCall",
                             [] { return std::make_unique<SumHandler>(); });
    table_->AddStreamHandler(std::string(kTestService) + "StreamingOutputCall",
                             [] { return std::make_unique<RepeatHandler>(); });
    rpc::ServerOptions options;
    options.listeners.push_back(
        {"127.0.0.1:0", grpc::InsecureServerCredentials(), nullptr, "grpc", {}});
    options.threads = 1;
    options.blocking_threads = 1;
    auto server = rpc::Server::Start(options, table_, auth_.authorizer, nullptr, nullptr);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->ports()[0]),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  // With the token the node's default rule wants for reflection.
  std::unique_ptr<ReflectionSource> Source() { return Source({{"authorization", kBearer}}); }
  std::unique_ptr<ReflectionSource> Source(Metadata metadata) {
    return ReflectionSource::New(channel_,
                                 ReflectionOptions{absl::Seconds(10), std::move(metadata)});
  }

  const std::string kBearer = std::string("Bearer ") + testlib::kUserToken;
  testlib::ServicePolicyAuth auth_;
  services::DiceService dice_;
  services::ReflectionService reflection_{
      {"api.DiceService", "grpc.reflection.v1alpha.ServerReflection", "grpc.testing.TestService"}};
  std::shared_ptr<rpc::MethodTable> table_ = std::make_shared<rpc::MethodTable>();
  std::unique_ptr<rpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ReflectionSourceTest, ListsTheServicesTheNodeNames) {
  auto source = Source();
  auto services = source->ListServices();
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, ElementsAre("api.DiceService", "grpc.reflection.v1alpha.ServerReflection",
                                     "grpc.testing.TestService"));
}

TEST_F(ReflectionSourceTest, BuildsAMethodAndItsTypesFromTheNodesFiles) {
  auto source = Source();
  auto method = FindMethod(*source, "/api.DiceService/RollDie");
  ASSERT_TRUE(method.ok()) << method.status();
  EXPECT_EQ((*method)->output_type()->full_name(), "api.RollDieResponse");
  // Built in the source's own pool from what the node sent, not taken from this binary.
  EXPECT_EQ((*method)->file()->pool(), &source->pool());
  EXPECT_NE((*method)->file()->pool(), google::protobuf::DescriptorPool::generated_pool());
}

TEST_F(ReflectionSourceTest, DescribesAMessageFetchedWithItsImports) {
  auto source = Source();
  // messages.proto is an import of test.proto: it comes in the same answer.
  auto text = Describe(*source, "grpc.testing.StreamingOutputCallRequest");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, StartsWith("grpc.testing.StreamingOutputCallRequest is a message:\n"));
  EXPECT_THAT(*text, HasSubstr("repeated .grpc.testing.ResponseParameters response_parameters"));
}

TEST_F(ReflectionSourceTest, AnUnknownSymbolIsNotFoundAndTheStreamStaysUsable) {
  auto source = Source();
  auto missing = FindMethod(*source, "/nope.Service/Call");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(RpcCode(missing.status()).has_value())
      << "not found is the node's answer, not a failed call";
  EXPECT_THAT(missing.status().message(), HasSubstr("the node's reflection service"));
  EXPECT_TRUE(source->LookupStatus().ok());
  EXPECT_TRUE(FindMethod(*source, "/api.DiceService/RollDie").ok());
}

TEST_F(ReflectionSourceTest, ARefusedReflectionCallIsThatRpcError) {
  auto source = Source(/*metadata=*/{});
  auto method = FindMethod(*source, "/api.DiceService/RollDie");
  ASSERT_FALSE(method.ok());
  ASSERT_TRUE(RpcCode(method.status()).has_value()) << method.status();
  EXPECT_EQ(*RpcCode(method.status()), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(std::string(method.status().message()), StartsWith("reflection: "));
  // The failure sticks: later lookups fail the same way without a new call.
  EXPECT_EQ(RpcCode(source->ListServices().status()), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ReflectionSourceTest, ANodeWithoutReflectionAnswersUnimplemented) {
  server_->Shutdown(absl::Seconds(1));
  table_ = std::make_shared<rpc::MethodTable>();
  dice_.Register(*table_);
  rpc::ServerOptions options;
  options.listeners.push_back(
      {"127.0.0.1:0", grpc::InsecureServerCredentials(), nullptr, "grpc", {}});
  options.threads = 1;
  auto server = rpc::Server::Start(options, table_, auth_.authorizer, nullptr, nullptr);
  ASSERT_TRUE(server.ok());
  server_ = *std::move(server);
  channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->ports()[0]),
                                 grpc::InsecureChannelCredentials());

  auto services = Source()->ListServices();
  ASSERT_FALSE(services.ok());
  EXPECT_EQ(RpcCode(services.status()), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ReflectionSourceTest, CallsAUnaryMethodWithDynamicMessages) {
  auto source = Source();
  auto method = FindMethod(*source, "api.DiceService.RollDie");
  ASSERT_TRUE(method.ok()) << method.status();
  google::protobuf::DynamicMessageFactory factory;
  auto requests = ParseJsonMessages(*(*method)->input_type(), "{}", factory);
  ASSERT_TRUE(requests.ok());
  std::vector<std::string> seen;

  auto result = InvokeMethod(channel_, **method, *requests, factory, CallOptions{},
                             [&seen](const google::protobuf::Message& m) {
                               seen.push_back(*ToJson(m));
                               return absl::OkStatus();
                             });

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->status.ok()) << result->status.error_message();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_THAT(seen[0], ::testing::MatchesRegex(R"(\{"value":[1-6]\})"));
}

TEST_F(ReflectionSourceTest, StreamsSeveralRequestsInAndOneResponseOut) {
  auto source = Source();
  auto method = FindMethod(*source, "/grpc.testing.TestService/StreamingInputCall");
  ASSERT_TRUE(method.ok()) << method.status();
  google::protobuf::DynamicMessageFactory factory;
  // "AAAA" is 3 bytes, "AA" 1: the node sums 4.
  auto requests =
      ParseJsonMessages(*(*method)->input_type(),
                        R"({"payload":{"body":"AAAA"}} {"payload":{"body":"AA"}} {})", factory);
  ASSERT_TRUE(requests.ok()) << requests.status();
  std::vector<std::string> seen;

  auto result = InvokeMethod(channel_, **method, *requests, factory, CallOptions{},
                             [&seen](const google::protobuf::Message& m) {
                               seen.push_back(*ToJson(m));
                               return absl::OkStatus();
                             });

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->status.ok()) << result->status.error_message();
  EXPECT_THAT(seen, ElementsAre(R"({"aggregatedPayloadSize":4})"));
}

TEST_F(ReflectionSourceTest, HandsOverEveryResponseOfAServerStreamInOrder) {
  auto source = Source();
  auto method = FindMethod(*source, "/grpc.testing.TestService/StreamingOutputCall");
  ASSERT_TRUE(method.ok()) << method.status();
  google::protobuf::DynamicMessageFactory factory;
  auto requests =
      ParseJsonMessages(*(*method)->input_type(),
                        R"({"responseParameters":[{"size":1},{"size":2},{"size":3}]})", factory);
  ASSERT_TRUE(requests.ok()) << requests.status();
  std::vector<std::string> seen;

  auto result = InvokeMethod(channel_, **method, *requests, factory, CallOptions{},
                             [&seen](const google::protobuf::Message& m) {
                               seen.push_back(*ToJson(m));
                               return absl::OkStatus();
                             });

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->responses, 3);
  EXPECT_THAT(seen, ElementsAre(R"({"payload":{"body":"eA=="}})", R"({"payload":{"body":"eHg="}})",
                                R"({"payload":{"body":"eHh4"}})"));
}

TEST_F(ReflectionSourceTest, AUnaryMethodTakesExactlyOneRequest) {
  auto source = Source();
  auto method = FindMethod(*source, "/api.DiceService/RollDie");
  ASSERT_TRUE(method.ok());
  google::protobuf::DynamicMessageFactory factory;
  auto two = ParseJsonMessages(*(*method)->input_type(), "{}{}", factory);
  ASSERT_TRUE(two.ok());
  int calls = 0;

  auto result = InvokeMethod(channel_, **method, *two, factory, CallOptions{},
                             [&calls](const google::protobuf::Message&) {
                               ++calls;
                               return absl::OkStatus();
                             });

  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("exactly one request message, got 2"));
  EXPECT_EQ(calls, 0);
}

TEST_F(ReflectionSourceTest, SendsTheMetadataOnABidiStreamAndReportsItsStatus) {
  // Reflection itself, called as any method: it needs a caller, so the token in the metadata
  // decides, and each request gets its answer.
  auto source = Source();
  auto method =
      FindMethod(*source, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
  ASSERT_TRUE(method.ok()) << method.status();
  ASSERT_TRUE((*method)->client_streaming() && (*method)->server_streaming());
  google::protobuf::DynamicMessageFactory factory;
  auto requests =
      ParseJsonMessages(*(*method)->input_type(),
                        R"({"listServices":"*"} {"fileByFilename":"api/dice.proto"})", factory);
  ASSERT_TRUE(requests.ok()) << requests.status();
  int answers = 0;
  auto count = [&answers](const google::protobuf::Message&) {
    ++answers;
    return absl::OkStatus();
  };

  auto with_token =
      InvokeMethod(channel_, **method, *requests, factory,
                   CallOptions{absl::Seconds(10), {{"authorization", kBearer}}}, count);
  auto with_a_wrong_token =
      InvokeMethod(channel_, **method, *requests, factory,
                   CallOptions{absl::Seconds(10), {{"authorization", "Bearer nope"}}}, count);

  ASSERT_TRUE(with_token.ok() && with_a_wrong_token.ok());
  EXPECT_TRUE(with_token->status.ok()) << with_token->status.error_message();
  EXPECT_EQ(with_token->responses, 2);
  EXPECT_EQ(with_a_wrong_token->status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(with_a_wrong_token->responses, 0);
  EXPECT_EQ(answers, 2);
}

TEST_F(ReflectionSourceTest, AHandlerRefusalCancelsTheCallAndIsReturned) {
  auto source = Source();
  auto method = FindMethod(*source, "/grpc.testing.TestService/StreamingOutputCall");
  ASSERT_TRUE(method.ok());
  google::protobuf::DynamicMessageFactory factory;
  auto requests = ParseJsonMessages(*(*method)->input_type(),
                                    R"({"responseParameters":[{"size":1},{"size":2}]})", factory);
  ASSERT_TRUE(requests.ok());
  int calls = 0;

  auto result = InvokeMethod(channel_, **method, *requests, factory, CallOptions{},
                             [&calls](const google::protobuf::Message&) {
                               ++calls;
                               return absl::DataLossError("stdout closed");
                             });

  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "stdout closed");
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace nodegate::client
