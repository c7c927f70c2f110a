#include "services/health.h"

#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/rpc_calls.h"

namespace nodegate::services {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::nodegate::testlib::Call;
using ::nodegate::testlib::CallBuffer;
using ::nodegate::testlib::RecordingStream;
using ::nodegate::testlib::Send;
using ::nodegate::testlib::SendBuffer;
using ::nodegate::testlib::TruncatedMessage;
using ::testing::ElementsAre;
using ::testing::Optional;

constexpr char kCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kWatch[] = "/grpc.health.v1.Health/Watch";
constexpr char kKv[] = "nodegate.v1.KeyValue";

HealthCheckRequest For(const std::string& service) {
  HealthCheckRequest r;
  r.set_service(service);
  return r;
}

// The statuses a watch stream was sent, in order.
std::vector<HealthCheckResponse::ServingStatus> Statuses(const RecordingStream& stream) {
  std::vector<HealthCheckResponse::ServingStatus> out;
  for (const HealthCheckResponse& r : stream.Messages<HealthCheckResponse>()) {
    out.push_back(r.status());
  }
  return out;
}

class HealthServiceTest : public ::testing::Test {
 protected:
  HealthServiceTest() : health_({kKv, "api.DiceService"}) { health_.Register(table_); }

  // UNKNOWN, which the service never answers, when the call fails.
  HealthCheckResponse::ServingStatus Check(const std::string& service) {
    HealthCheckResponse response;
    absl::Status s = Call(table_, kCheck, For(service), &response);
    EXPECT_TRUE(s.ok()) << s;
    return s.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
  }

  std::shared_ptr<RecordingStream> Watch(const std::string& service) {
    auto stream = std::make_shared<RecordingStream>();
    absl::Status s = Send(table_, kWatch, For(service), stream);
    EXPECT_TRUE(s.ok()) << s;
    return stream;
  }

  HealthService health_;
  rpc::MethodTable table_;
};

TEST_F(HealthServiceTest, RegistersCheckAndWatch) {
  EXPECT_THAT(table_.Names(), ElementsAre(kCheck, kWatch));
  EXPECT_EQ(table_.Find(kCheck)->execution, rpc::Execution::kInline);
  EXPECT_FALSE(table_.Find(kWatch)->finish_on_half_close);
}

TEST_F(HealthServiceTest, CheckIsNotServingBeforeTheNodeStarts) {
  EXPECT_EQ(Check(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check(kKv), HealthCheckResponse::NOT_SERVING);
}

TEST_F(HealthServiceTest, CheckIsServingForTheNodeAndEachServiceOnceStarted) {
  health_.SetServing(true);
  EXPECT_EQ(Check(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check(kKv), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check("api.DiceService"), HealthCheckResponse::SERVING);
}

TEST_F(HealthServiceTest, CheckIsNotServingWhileTheNodeDrains) {
  health_.SetServing(true);
  health_.SetServing(false);
  EXPECT_EQ(Check(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check(kKv), HealthCheckResponse::NOT_SERVING);
}

TEST_F(HealthServiceTest, CheckOfAnUnknownServiceIsNotFound) {
  health_.SetServing(true);
  HealthCheckResponse response;
  absl::Status status = Call(table_, kCheck, For("no.such.Service"), &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "unknown service");
}

TEST_F(HealthServiceTest, CheckRejectsARequestThatDoesNotParse) {
  HealthCheckResponse response;
  EXPECT_EQ(CallBuffer(table_, kCheck, TruncatedMessage(), &response).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HealthServiceTest, WatchSendsTheCurrentStatusThenEachChange) {
  std::shared_ptr<RecordingStream> node = Watch("");
  std::shared_ptr<RecordingStream> kv = Watch(kKv);
  EXPECT_THAT(Statuses(*node), ElementsAre(HealthCheckResponse::NOT_SERVING));

  health_.SetServing(true);
  health_.SetServing(false);

  const auto expected = ElementsAre(HealthCheckResponse::NOT_SERVING, HealthCheckResponse::SERVING,
                                    HealthCheckResponse::NOT_SERVING);
  EXPECT_THAT(Statuses(*node), expected);
  EXPECT_THAT(Statuses(*kv), expected);
  EXPECT_FALSE(node->done());  // a watch lasts until shutdown
}

TEST_F(HealthServiceTest, WatchIsNotSentAStatusThatDidNotChange) {
  health_.SetServing(true);
  std::shared_ptr<RecordingStream> stream = Watch(kKv);
  health_.SetServing(true);
  EXPECT_THAT(Statuses(*stream), ElementsAre(HealthCheckResponse::SERVING));
}

TEST_F(HealthServiceTest, WatchOfAnUnknownServiceStreamsServiceUnknownAndDoesNotFail) {
  std::shared_ptr<RecordingStream> stream = Watch("no.such.Service");
  health_.SetServing(true);
  EXPECT_THAT(Statuses(*stream), ElementsAre(HealthCheckResponse::SERVICE_UNKNOWN));
  EXPECT_FALSE(stream->finish_status().has_value());
}

TEST_F(HealthServiceTest, ShutdownSendsNotServingAndFinishesEveryWatchOk) {
  health_.SetServing(true);
  std::shared_ptr<RecordingStream> node = Watch("");
  std::shared_ptr<RecordingStream> unknown = Watch("no.such.Service");

  health_.Shutdown();

  EXPECT_THAT(Statuses(*node),
              ElementsAre(HealthCheckResponse::SERVING, HealthCheckResponse::NOT_SERVING));
  EXPECT_THAT(node->finish_status(), Optional(absl::OkStatus()));
  EXPECT_THAT(Statuses(*unknown),
              ElementsAre(HealthCheckResponse::SERVICE_UNKNOWN, HealthCheckResponse::NOT_SERVING));
  EXPECT_THAT(unknown->finish_status(), Optional(absl::OkStatus()));
  EXPECT_EQ(node.use_count(), 1) << "the service still holds a finished stream";
}

TEST_F(HealthServiceTest, WatchAfterShutdownGetsNotServingAndIsFinished) {
  health_.SetServing(true);
  health_.Shutdown();
  std::shared_ptr<RecordingStream> stream = Watch(kKv);
  EXPECT_THAT(Statuses(*stream), ElementsAre(HealthCheckResponse::NOT_SERVING));
  EXPECT_THAT(stream->finish_status(), Optional(absl::OkStatus()));
}

TEST_F(HealthServiceTest, SetServingAfterShutdownIsIgnored) {
  health_.Shutdown();
  health_.SetServing(true);
  EXPECT_EQ(Check(""), HealthCheckResponse::NOT_SERVING);
}

TEST_F(HealthServiceTest, WatchesWhoseCallEndedAreDropped) {
  std::shared_ptr<RecordingStream> gone = Watch("");
  std::shared_ptr<RecordingStream> live = Watch("");
  gone->End();

  health_.SetServing(true);

  EXPECT_EQ(gone->writes_after_end(), 0);
  EXPECT_EQ(gone.use_count(), 1) << "the service still holds an ended stream";
  EXPECT_THAT(Statuses(*live),
              ElementsAre(HealthCheckResponse::NOT_SERVING, HealthCheckResponse::SERVING));
}

TEST_F(HealthServiceTest, AnEndedWatchIsDroppedByTheNextWatchWithoutAStatusChange) {
  std::shared_ptr<RecordingStream> gone = Watch("");
  gone->End();
  Watch("");
  EXPECT_EQ(gone.use_count(), 1);
}

TEST_F(HealthServiceTest, ASecondRequestOnOneWatchIsRejected) {
  std::shared_ptr<RecordingStream> stream = Watch("");
  EXPECT_EQ(Send(table_, kWatch, For(kKv), stream).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Statuses(*stream), ElementsAre(HealthCheckResponse::NOT_SERVING));
}

TEST_F(HealthServiceTest, WatchRejectsARequestThatDoesNotParse) {
  auto stream = std::make_shared<RecordingStream>();
  EXPECT_EQ(SendBuffer(table_, kWatch, TruncatedMessage(), stream).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Statuses(*stream).empty());
}

// Watches start while the node flips its status from another thread: every watcher must see the
// statuses in the order they happened (each one different from the one before) and end on the
// last one.
TEST_F(HealthServiceTest, WatchersSeeChangesInOrderUnderConcurrentToggles) {
  constexpr int kToggles = 2000;
  std::thread toggler([this] {
    for (int i = 0; i < kToggles; ++i) health_.SetServing(i % 2 == 0);
  });
  std::vector<std::shared_ptr<RecordingStream>> streams;
  streams.reserve(200);
  for (int i = 0; i < 200; ++i) streams.push_back(Watch(i % 2 == 0 ? "" : kKv));
  toggler.join();

  for (const auto& stream : streams) {
    std::vector<HealthCheckResponse::ServingStatus> seen = Statuses(*stream);
    ASSERT_FALSE(seen.empty());
    for (size_t i = 1; i < seen.size(); ++i) ASSERT_NE(seen[i], seen[i - 1]) << "at " << i;
    EXPECT_EQ(seen.back(), HealthCheckResponse::NOT_SERVING);  // the last toggle is false
  }
}

}  // namespace
}  // namespace nodegate::services
