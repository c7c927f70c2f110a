// LoadGenerator against a real in-process gRPC server over loopback (h2c). The schedule, the
// measured window, start lag and latency are checked on a testlib::ManualClock that the test moves
// by hand, with a server that can hold its replies until the test lets them go: every number is
// exact. Only the closed-loop and report-format tests run on the real clock, and they assert
// counts and fields, never a rate or a duration.
#include "loadgen/load_generator.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "testlib/manual_clock.h"

namespace nodegate::loadgen {
namespace {

// Answers every unary call to any method with an empty message: at once, or (holding) only when
// the test releases it, oldest first.
class EmptyReplyService : public grpc::CallbackGenericService {
 public:
  explicit EmptyReplyService(bool hold) : hold_(hold) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    // gRPC's reactor API: the reactor owns itself and deletes itself in OnDone.
    return new Reactor(this);
  }

  int64_t calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

  // Blocks until the server has received `n` calls in all; false after 30 s (a hung generator),
  // so that a broken test fails instead of hanging. Time bounds nothing that is asserted.
  bool AwaitCalls(int64_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
  }

  // Answers the oldest held call; false if none is held.
  bool ReleaseOne() {
    grpc::ServerGenericBidiReactor* r = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (held_.empty()) return false;
      r = held_.front();
      held_.pop_front();
    }
    static_cast<Reactor*>(r)->Reply();
    return true;
  }

 private:
  class Reactor : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(EmptyReplyService* service) : service_(service) {
      grpc::Slice empty;  // a ByteBuffer without any slice is not a message
      response_ = grpc::ByteBuffer(&empty, 1);
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
        return;
      }
      if (!service_->Received(this)) Reply();
    }
    void Reply() { StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK); }
    void OnDone() override { delete this; }

   private:
    EmptyReplyService* service_;
    grpc::ByteBuffer request_;
    grpc::ByteBuffer response_;
  };

  // Counts a call; true if it is held for ReleaseOne.
  bool Received(Reactor* r) {
    absl::MutexLock lock(&mu_);
    ++calls_;
    if (hold_) held_.push_back(r);
    return hold_;
  }

  const bool hold_;
  absl::Mutex mu_;
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<grpc::ServerGenericBidiReactor*> held_ ABSL_GUARDED_BY(mu_);
};

class LoadGeneratorTest : public testing::Test {
 protected:
  void StartServer(bool hold_replies = false) {
    service_ = std::make_unique<EmptyReplyService>(hold_replies);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterCallbackGenericService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    target_ = "127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    if (run_.joinable()) run_.join();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  Options BaseOptions() const {
    Options o;
    o.target = target_;
    o.method = "/test.Empty/Call";
    o.plaintext = true;
    o.connections = 2;
    o.concurrency = 16;
    o.threads = 1;
    o.warmup = absl::Milliseconds(200);  // connections are made lazily on the first calls
    return o;
  }

  Result RunOrDie(const Options& o) {
    absl::StatusOr<std::unique_ptr<LoadGenerator>> gen = LoadGenerator::New(o);
    EXPECT_TRUE(gen.ok()) << gen.status();
    if (!gen.ok()) return Result{};
    return (*gen)->Run();
  }

  // Paced options on the manual clock: one call due every `interval`, one worker, no warmup.
  Options PacedOnManualClock(absl::Duration interval) {
    Options o = BaseOptions();
    o.clock = &clock_;
    o.rate = 1.0 / absl::ToDoubleSeconds(interval);
    o.warmup = absl::ZeroDuration();
    return o;
  }

  // Runs the generator on a thread of its own; the test moves the clock meanwhile.
  void RunInBackground(const Options& o) {
    run_ = std::thread([this, o] { result_ = RunOrDie(o); });
  }
  Result Finished() {
    run_.join();
    return result_;
  }

  // Moves the clock to each of the next `calls` due times and waits, each time, for the server to
  // receive that call: the generator starts a call when it falls due, not before, not later.
  void StepThroughCalls(absl::Duration interval, int calls) {
    for (int i = 0; i < calls; ++i) {
      if (i > 0) clock_.Advance(interval);
      ASSERT_TRUE(service_->AwaitCalls(calls_seen_ + 1)) << "call " << i << " never came";
      EXPECT_EQ(service_->calls(), calls_seen_ + 1) << "a call started before it was due";
      ++calls_seen_;
    }
  }

  testlib::ManualClock clock_;
  std::unique_ptr<EmptyReplyService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
  std::thread run_;
  Result result_;
  int64_t calls_seen_ = 0;
};

TEST(LoadGeneratorOptionsTest, RejectsRatesItCannotSchedule) {
  for (double rate : {-1.0, 1e-300, std::numeric_limits<double>::infinity(),
                      std::numeric_limits<double>::quiet_NaN()}) {
    Options o;
    o.target = "127.0.0.1:1";
    o.method = "/test.Empty/Call";
    o.plaintext = true;
    o.rate = rate;

    absl::StatusOr<std::unique_ptr<LoadGenerator>> gen = LoadGenerator::New(o);

    EXPECT_EQ(gen.status().code(), absl::StatusCode::kInvalidArgument) << rate;
  }
}

TEST_F(LoadGeneratorTest, PacedRunMakesExactlyTheCallsDueInTheWindowAtTheRequestedRate) {
  StartServer();
  const absl::Duration interval = absl::Milliseconds(1);
  Options o = PacedOnManualClock(interval);  // 1000 calls/s
  o.duration = absl::Milliseconds(10);       // calls due at 0, 1, ..., 9 ms

  RunInBackground(o);
  StepThroughCalls(interval, 10);
  clock_.Advance(interval);  // 10 ms: the window ends, the call due now is not made
  Result r = Finished();

  EXPECT_EQ(r.calls, 10);
  EXPECT_EQ(r.ok, 10);
  EXPECT_EQ(service_->calls(), 10);
  EXPECT_EQ(r.window, o.duration);
  EXPECT_DOUBLE_EQ(r.qps, 1000);
}

TEST_F(LoadGeneratorTest, PacedRunReportsTheStartLagOfEveryCall) {
  StartServer();
  const absl::Duration interval = absl::Milliseconds(1);
  Options o = PacedOnManualClock(interval);
  o.duration = absl::Milliseconds(5);

  RunInBackground(o);
  StepThroughCalls(interval, 5);
  clock_.Advance(interval);
  Result r = Finished();

  ASSERT_TRUE(r.paced);
  EXPECT_EQ(r.start_lag_ns.count(), 5u);
  // Each call started on the clock reading it was due at.
  EXPECT_EQ(r.start_lag_ns.max(), 0u);
  EXPECT_EQ(r.owed_calls, 0);
}

TEST_F(LoadGeneratorTest, PacedRunOverSeveralWorkersInterleavesTheirCallsAtTheTotalRate) {
  StartServer();
  const absl::Duration interval = absl::Milliseconds(1);
  Options o = PacedOnManualClock(interval);
  o.threads = 2;  // worker 0 takes the calls due at 0, 2, 4, ... ms; worker 1 those at 1, 3, ...
  o.duration = absl::Milliseconds(10);

  RunInBackground(o);
  StepThroughCalls(interval, 10);
  clock_.Advance(interval);
  Result r = Finished();

  EXPECT_EQ(r.threads, 2);
  EXPECT_EQ(r.calls, 10);
  EXPECT_EQ(r.ok, 10);
  EXPECT_DOUBLE_EQ(r.qps, 1000);
}

TEST_F(LoadGeneratorTest, OwedCallsStartWhenASlotFreesAndCountFromTheirDueTime) {
  StartServer(/*hold_replies=*/true);
  const absl::Duration interval = absl::Milliseconds(5);
  Options o = PacedOnManualClock(interval);  // calls due at 0, 5, 10, 15 ms
  o.connections = 1;
  o.concurrency = 1;
  o.duration = absl::Milliseconds(20);

  RunInBackground(o);
  ASSERT_TRUE(service_->AwaitCalls(1));  // call 0, on the only slot, held by the server
  clock_.Advance(absl::Milliseconds(15));
  EXPECT_EQ(service_->calls(), 1);  // calls 1..3 fell due with no slot free: owed
  for (int k = 1; k <= 3; ++k) {
    ASSERT_TRUE(service_->ReleaseOne());  // call k-1 completes at 15 ms; call k starts at once
    ASSERT_TRUE(service_->AwaitCalls(k + 1));
  }
  ASSERT_TRUE(service_->ReleaseOne());
  clock_.Advance(absl::Milliseconds(5));  // 20 ms: the window ends
  Result r = Finished();

  EXPECT_EQ(r.calls, 4);
  // Calls 1 and 2 were owed and started 10 and 5 ms late; call 3 fell due as the slot freed.
  EXPECT_EQ(r.owed_calls, 2);
  EXPECT_EQ(r.start_lag_ns.count(), 4u);
  EXPECT_EQ(r.start_lag_ns.max(), 10'000'000u);
  // Latency counts from the due time: call 0 was due at 0 and completed at 15 ms.
  EXPECT_EQ(r.latency_ns.max(), 15'000'000u);
}

TEST_F(LoadGeneratorTest, PacedRunWithRequestsStopsAfterExactlyThatManyCallsOnTheSchedule) {
  StartServer();
  const absl::Duration interval = absl::Milliseconds(1);
  Options o = PacedOnManualClock(interval);
  o.requests = 5;

  RunInBackground(o);
  StepThroughCalls(interval, 5);
  clock_.Advance(interval);  // the sixth call falls due and is not made
  Result r = Finished();

  EXPECT_EQ(r.calls, 5);
  EXPECT_EQ(service_->calls(), 5);
  // Spread over the schedule, not sent as one burst: the last call was due at 4 ms.
  EXPECT_GE(r.window, absl::Milliseconds(4));
  EXPECT_LE(r.window, absl::Milliseconds(5));
}

TEST_F(LoadGeneratorTest, ClosedLoopRunReportsNoStartLag) {
  StartServer();
  Options o = BaseOptions();
  o.warmup = absl::ZeroDuration();
  o.requests = 500;

  Result r = RunOrDie(o);

  EXPECT_EQ(r.calls, 500);
  EXPECT_EQ(r.ok, 500);
  EXPECT_FALSE(r.paced);
  EXPECT_FALSE(nlohmann::json::parse(r.ToJson(o)).contains("start_lag_ms"));
  EXPECT_EQ(r.ToText().find("start lag"), std::string::npos);
}

TEST_F(LoadGeneratorTest, PacedJsonAddsStartLagAndKeepsTheFieldsScriptsParse) {
  StartServer();
  Options o = BaseOptions();
  o.rate = 1000;
  o.requests = 100;
  o.warmup = absl::ZeroDuration();

  Result r = RunOrDie(o);
  nlohmann::json j = nlohmann::json::parse(r.ToJson(o));

  EXPECT_EQ(j["ok"], 100);
  EXPECT_EQ(j["errors"], 0);
  EXPECT_GT(j["qps"].get<double>(), 0);
  for (const char* p : {"p50", "p99", "p99_9"}) {
    EXPECT_GT(j["latency_ms"][p].get<double>(), 0) << p;
  }
  for (const char* p : {"mean", "p50", "p90", "p99", "p99_9", "max"}) {
    EXPECT_TRUE(j["start_lag_ms"].contains(p)) << p;
  }
  EXPECT_GE(j["owed_calls"].get<int64_t>(), 0);
  EXPECT_LE(j["start_lag_ms"]["p50"].get<double>(), j["start_lag_ms"]["max"].get<double>());
  EXPECT_NE(r.ToText().find("start lag"), std::string::npos);
}

}  // namespace
}  // namespace nodegate::loadgen
