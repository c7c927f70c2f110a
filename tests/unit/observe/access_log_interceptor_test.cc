// AccessLogInterceptorFactory on a real grpc::Server (the library route, README "Library"): each
// call ends as one access-log line and one metric count, with the caller its PrincipalFn names.
#include "observe/access_log_interceptor.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/dice.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace nodegate::observe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kRollDie[] = "/api.DiceService/RollDie";

// Answers every RollDie with `status`.
class FixedDice final : public api::DiceService::CallbackService {
 public:
  explicit FixedDice(grpc::Status status) : status_(std::move(status)) {}

  grpc::ServerUnaryReactor* RollDie(grpc::CallbackServerContext* context,
                                    const api::RollDieRequest* /*request*/,
                                    api::RollDieResponse* response) override {
    response->set_value(4);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status_);
    return reactor;
  }

 private:
  const grpc::Status status_;
};

std::string NewLogPath() {
  std::filesystem::create_directories(NODEGATE_TEST_TMPDIR);
  std::string dir = std::string(NODEGATE_TEST_TMPDIR) + "/interceptor-XXXXXX";
  EXPECT_NE(::mkdtemp(dir.data()), nullptr);
  return dir + "/access.log";
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A server whose only observer is the interceptor under test; the PrincipalFn is ours and records
// the methods it was asked about.
class LoggedServer {
 public:
  explicit LoggedServer(grpc::Status handler_status)
      : path_(NewLogPath()),
        metrics_(std::make_shared<Metrics>(std::vector<std::string>{kRollDie})),
        service_(std::move(handler_status)) {
    absl::StatusOr<std::shared_ptr<AccessLog>> log = AccessLog::Open(path_);
    EXPECT_TRUE(log.ok()) << log.status();
    log_ = *log;

    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(std::make_unique<AccessLogInterceptorFactory>(
        log_,
        [this](const grpc::ServerContextBase& /*context*/, std::string_view full_method) {
          std::lock_guard<std::mutex> lock(mu_);
          asked_.emplace_back(full_method);
          return AccessLogInterceptorFactory::Caller{"user:alice", "dev-client"};
        },
        metrics_));
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    stub_ = api::DiceService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  ~LoggedServer() {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  grpc::Status Roll() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    api::RollDieResponse response;
    return stub_->RollDie(&context, api::RollDieRequest(), &response);
  }

  // The interceptor writes its line at PRE_SEND_STATUS, which may come after the client already
  // has its answer: wait (bounded) until `n` lines are out.
  std::vector<std::string> WaitForLines(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<std::string> lines;
    for (;;) {
      log_->Flush();
      lines = ReadLines(path_);
      if (lines.size() >= n || std::chrono::steady_clock::now() > deadline) return lines;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  Metrics& metrics() { return *metrics_; }
  std::vector<std::string> asked() {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }

 private:
  std::string path_;
  std::shared_ptr<AccessLog> log_;
  std::shared_ptr<Metrics> metrics_;
  FixedDice service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<api::DiceService::Stub> stub_;
  std::mutex mu_;
  std::vector<std::string> asked_;
};

TEST(AccessLogInterceptorTest, OneCallWritesOneLineAndCountsOnce) {
  LoggedServer server(grpc::Status::OK);

  grpc::Status status = server.Roll();

  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  std::vector<std::string> lines = server.WaitForLines(1);
  ASSERT_EQ(lines.size(), 1u);
  nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["method"], kRollDie);
  EXPECT_EQ(j["code"], 0);
  EXPECT_EQ(j["status"], "OK");
  EXPECT_EQ(j["principal"], "user:alice");
  EXPECT_EQ(j["client_cn"], "dev-client");
  EXPECT_THAT(j["user_agent"].get<std::string>(), HasSubstr("grpc-c++/"));
  EXPECT_THAT(j["peer"].get<std::string>(), HasSubstr("127.0.0.1"));
  EXPECT_THAT(server.asked(), ElementsAre(kRollDie));
  EXPECT_EQ(server.metrics().TotalCalls(), 1u);
  EXPECT_THAT(server.metrics().RenderPrometheus(),
              HasSubstr("nodegate_grpc_calls_total{method=\"/api.DiceService/RollDie\","
                        "code=\"OK\"} 1\n"));
}

TEST(AccessLogInterceptorTest, RecordsTheStatusTheHandlerFinishedWith) {
  LoggedServer server(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no dice"));

  grpc::Status status = server.Roll();

  ASSERT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  std::vector<std::string> lines = server.WaitForLines(1);
  ASSERT_EQ(lines.size(), 1u);
  nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["code"], 9);
  EXPECT_EQ(j["status"], "FAILED_PRECONDITION");
  EXPECT_THAT(server.metrics().RenderPrometheus(),
              HasSubstr("nodegate_grpc_calls_total{method=\"/api.DiceService/RollDie\","
                        "code=\"FAILED_PRECONDITION\"} 1\n"));
}

}  // namespace
}  // namespace nodegate::observe
