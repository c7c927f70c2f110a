#include "services/dice.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/rpc_calls.h"

namespace nodegate::services {
namespace {

using ::nodegate::testlib::Call;
using ::testing::ElementsAre;

constexpr char kRollDie[] = "/api.DiceService/RollDie";

TEST(DiceServiceTest, EveryRollIsAFaceAndEveryFaceComesUp) {
  DiceService dice;
  rpc::MethodTable table;
  dice.Register(table);

  std::set<int> seen;
  for (int i = 0; i < 600; ++i) {
    api::RollDieResponse resp;
    ASSERT_TRUE(Call(table, kRollDie, api::RollDieRequest(), &resp).ok());
    ASSERT_GE(resp.value(), 1);
    ASSERT_LE(resp.value(), 6);
    seen.insert(resp.value());
  }
  // A face missing from 600 fair rolls has probability about 6 * (5/6)^600 < 1e-46.
  EXPECT_THAT(seen, ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST(DiceServiceTest, RollDieValueStaysInRange) {
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<int> v = RollDieValue();
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_GE(*v, 1);
    ASSERT_LE(*v, 6);
  }
}

}  // namespace
}  // namespace nodegate::services
