#include "crypto/constant_time.h"

#include <gtest/gtest.h>

#include <string>

namespace nodegate::crypto {
namespace {

TEST(ConstantTimeEqualsTest, EqualContentsAreEqual) {
  EXPECT_TRUE(ConstantTimeEquals("secret-token", "secret-token"));
}

TEST(ConstantTimeEqualsTest, TwoEmptyStringsAreEqual) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals(std::string_view(), std::string_view()));
}

TEST(ConstantTimeEqualsTest, DifferenceInFirstByteIsUnequal) {
  EXPECT_FALSE(ConstantTimeEquals("Xecret-token", "secret-token"));
}

TEST(ConstantTimeEqualsTest, DifferenceInLastByteIsUnequal) {
  EXPECT_FALSE(ConstantTimeEquals("secret-tokeX", "secret-token"));
}

TEST(ConstantTimeEqualsTest, PrefixIsNotEqual) {
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret-token"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
}

TEST(ConstantTimeEqualsTest, ComparesBytesPastEmbeddedNul) {
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
}

TEST(ConstantTimeEqualsTest, EveryBitCounts) {
  const std::string base(32, '\x5a');
  for (size_t i = 0; i < base.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string other = base;
      other[i] = static_cast<char>(other[i] ^ (1 << bit));
      EXPECT_FALSE(ConstantTimeEquals(base, other)) << "byte " << i << " bit " << bit;
    }
  }
}

}  // namespace
}  // namespace nodegate::crypto
