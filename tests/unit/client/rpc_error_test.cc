#include "client/rpc_error.h"

#include "gtest/gtest.h"

namespace nodegate::client {
namespace {

TEST(RpcErrorTest, KeepsTheCodeAndSaysWhereItCameFrom) {
  absl::Status s =
      FromRpcStatus(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "needs role dice"), "call");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "call: needs role dice");
  ASSERT_TRUE(RpcCode(s).has_value());
  EXPECT_EQ(*RpcCode(s), grpc::StatusCode::PERMISSION_DENIED);
}

TEST(RpcErrorTest, ALocalErrorOfTheSameCodeIsNoRpcError) {
  EXPECT_FALSE(RpcCode(absl::PermissionDeniedError("cannot read key.pem")).has_value());
  EXPECT_FALSE(RpcCode(absl::OkStatus()).has_value());
}

TEST(RpcErrorTest, NamesCodesAsGrpcSpellsThem) {
  EXPECT_STREQ(StatusCodeName(0), "OK");
  EXPECT_STREQ(StatusCodeName(7), "PERMISSION_DENIED");
  EXPECT_STREQ(StatusCodeName(12), "UNIMPLEMENTED");
  EXPECT_STREQ(StatusCodeName(16), "UNAUTHENTICATED");
  EXPECT_STREQ(StatusCodeName(17), "UNKNOWN_CODE");
  EXPECT_STREQ(StatusCodeName(-1), "UNKNOWN_CODE");
}

}  // namespace
}  // namespace nodegate::client
