#include "services/identity.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/auth.h"
#include "testlib/manual_clock.h"
#include "testlib/rpc_calls.h"

namespace nodegate::services {
namespace {

using ::nodegate::testlib::Call;
using ::nodegate::testlib::MakePrincipal;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Kind = auth::Principal::Kind;

constexpr char kWhoAmI[] = "/nodegate.v1.Identity/WhoAmI";
constexpr char kPing[] = "/nodegate.v1.Identity/Ping";

class IdentityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { service_.Register(table_); }

  testlib::ManualClock clock_{absl::FromUnixMillis(1'767'225'600'123)};
  IdentityService service_{"node-7", &clock_};
  rpc::MethodTable table_;
};

TEST_F(IdentityServiceTest, WhoAmIReportsThePrincipalOfTheCall) {
  auth::Principal alice =
      MakePrincipal(Kind::kUser, "alice", {"ops", "admin"}, auth::kToken | auth::kMtls);
  nodegate::v1::WhoAmIResponse resp;
  ASSERT_TRUE(Call(table_, kWhoAmI, nodegate::v1::WhoAmIRequest(), &resp, alice).ok());
  EXPECT_EQ(resp.kind(), "user");
  EXPECT_EQ(resp.id(), "alice");
  EXPECT_THAT(resp.roles(), ElementsAre("ops", "admin"));
  EXPECT_THAT(resp.authenticators(), ElementsAre("mtls", "token"));
  EXPECT_EQ(resp.node_id(), "node-7");
}

TEST_F(IdentityServiceTest, WhoAmIReportsANodeSignedCall) {
  auth::Principal node = MakePrincipal(Kind::kNode, "node-b", {}, auth::kSignature);
  nodegate::v1::WhoAmIResponse resp;
  ASSERT_TRUE(Call(table_, kWhoAmI, nodegate::v1::WhoAmIRequest(), &resp, node).ok());
  EXPECT_EQ(resp.kind(), "node");
  EXPECT_EQ(resp.id(), "node-b");
  EXPECT_THAT(resp.roles(), IsEmpty());
  EXPECT_THAT(resp.authenticators(), ElementsAre("signature"));
}

TEST_F(IdentityServiceTest, WhoAmIOnAPublicCallSaysNone) {
  nodegate::v1::WhoAmIResponse resp;
  ASSERT_TRUE(Call(table_, kWhoAmI, nodegate::v1::WhoAmIRequest(), &resp).ok());
  EXPECT_EQ(resp.kind(), "none");
  EXPECT_EQ(resp.id(), "");
  EXPECT_THAT(resp.authenticators(), IsEmpty());
  EXPECT_EQ(resp.node_id(), "node-7");
}

TEST_F(IdentityServiceTest, PingAnswersWithTheNodeIdAndItsClock) {
  nodegate::v1::PingResponse resp;
  ASSERT_TRUE(Call(table_, kPing, nodegate::v1::PingRequest(), &resp).ok());
  EXPECT_EQ(resp.node_id(), "node-7");
  EXPECT_EQ(resp.unix_time_ms(), 1'767'225'600'123);
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(Call(table_, kPing, nodegate::v1::PingRequest(), &resp).ok());
  EXPECT_EQ(resp.unix_time_ms(), 1'767'225'602'123);
}

}  // namespace
}  // namespace nodegate::services
