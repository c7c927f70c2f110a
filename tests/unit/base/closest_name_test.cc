#include "base/closest_name.h"

#include "gtest/gtest.h"

namespace nodegate::base {
namespace {

const std::vector<std::string> kCommands = {"serve",  "init", "pki",    "call", "node",    "token",
                                            "appkey", "keys", "policy", "list", "describe"};

TEST(EditDistanceTest, CountsASwapOfNeighboursAsOne) {
  EXPECT_EQ(EditDistance("dice", "dice"), 0);
  EXPECT_EQ(EditDistance("dise", "dice"), 1);
  EXPECT_EQ(EditDistance("lsit", "list"), 1);
  EXPECT_EQ(EditDistance("", "abc"), 3);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
}

TEST(ClosestNameTest, SuggestsTheNearestForATypo) {
  EXPECT_EQ(ClosestName("dise", {"dice", "whoami", "port", "kv", "ping"}), "dice");
  EXPECT_EQ(ClosestName("srve", kCommands), "serve");
  EXPECT_EQ(ClosestName("descirbe", kCommands), "describe");
  EXPECT_EQ(ClosestName("tokne", kCommands), "token");
}

TEST(ClosestNameTest, SuggestsTheCommandAPrefixStarts) {
  EXPECT_EQ(ClosestName("desc", kCommands), "describe");
  EXPECT_EQ(ClosestName("app", kCommands), "appkey");
}

TEST(ClosestNameTest, SuggestsNothingForAFarOrKnownWord) {
  EXPECT_EQ(ClosestName("frobnicate", kCommands), std::nullopt);
  EXPECT_EQ(ClosestName("xy", kCommands), std::nullopt);
  EXPECT_EQ(ClosestName("call", kCommands), std::nullopt);
  EXPECT_EQ(ClosestName("", kCommands), std::nullopt);
}

TEST(ClosestNameTest, AShortWordMayBeOneEditAwayOnly) {
  // "kyes" is one swap from "keys", "nod" one insertion from "node"; "zzzz" is near nothing.
  EXPECT_EQ(ClosestName("kyes", kCommands), "keys");
  EXPECT_EQ(ClosestName("nod", kCommands), "node");
  EXPECT_EQ(ClosestName("zzzz", kCommands), std::nullopt);
}

}  // namespace
}  // namespace nodegate::base
