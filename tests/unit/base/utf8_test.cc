#include "base/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace nodegate::base {
namespace {

TEST(IsValidUtf8Test, AcceptsAsciiAndEveryEncodingLength) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain key/with.punctuation"));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9"));          // é, 2 bytes
  EXPECT_TRUE(IsValidUtf8("\xE4\xB8\xAD"));      // 中, 3 bytes
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x8E\xB2"));  // 🎲, 4 bytes
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
}

TEST(IsValidUtf8Test, RejectsMalformedSequences) {
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\x80"));              // a continuation byte alone
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xE4\xB8"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xC3\x28"));          // bad continuation
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));  // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // U+D800, a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8(std::string("ok\xFE", 3)));
}

}  // namespace
}  // namespace nodegate::base
