#include "crypto/algorithm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace nodegate::crypto {
namespace {

using ::testing::HasSubstr;

TEST(ParseAlgorithmTest, AcceptsEachWireName) {
  EXPECT_EQ(ParseAlgorithm("sm2-sm3").value(), Algorithm::kSm2Sm3);
  EXPECT_EQ(ParseAlgorithm("ecdsa-p256-sha256").value(), Algorithm::kEcdsaP256Sha256);
  EXPECT_EQ(ParseAlgorithm("ed25519").value(), Algorithm::kEd25519);
}

TEST(ParseAlgorithmTest, NameRoundTripsThroughAlgorithmName) {
  for (Algorithm a : {Algorithm::kSm2Sm3, Algorithm::kEcdsaP256Sha256, Algorithm::kEd25519}) {
    EXPECT_EQ(ParseAlgorithm(AlgorithmName(a)).value(), a);
  }
}

TEST(ParseAlgorithmTest, RejectsNearMissesAndNamesTheValidValues) {
  for (const char* name : {"", "SM2-SM3", "sm2", "ecdsa", "Ed25519", "ed25519 ", "rsa"}) {
    auto parsed = ParseAlgorithm(name);
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(parsed.status().message());
    EXPECT_THAT(message, HasSubstr("\"sm2-sm3\", \"ecdsa-p256-sha256\", \"ed25519\""));
  }
}

}  // namespace
}  // namespace nodegate::crypto
