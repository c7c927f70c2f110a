#include "client/metadata.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nodegate::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

TEST(ParseHeaderTest, LowerCasesTheKeyAndTrimsTheValue) {
  auto h = ParseHeader("Authorization:   Bearer abc def  ");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_THAT(*h, Pair("authorization", "Bearer abc def"));
}

TEST(ParseHeaderTest, KeepsColonsInTheValue) {
  auto h = ParseHeader("x-where: host:8443");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_THAT(*h, Pair("x-where", "host:8443"));
}

TEST(ParseHeaderTest, DecodesTheBase64OfABinaryKeyInEitherAlphabet) {
  auto standard = ParseHeader("x-blob-bin: +/8=");
  auto url_unpadded = ParseHeader("x-blob-bin: -_8");
  ASSERT_TRUE(standard.ok() && url_unpadded.ok());
  EXPECT_EQ(standard->second, std::string("\xfb\xff", 2));
  EXPECT_EQ(url_unpadded->second, std::string("\xfb\xff", 2));
}

TEST(ParseHeaderTest, RejectsAHeaderWithoutAColonAndDoesNotRepeatIt) {
  auto h = ParseHeader("authorization Bearer s3cret-token");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(h.status().message(), HasSubstr("expected 'key: value'"));
  EXPECT_THAT(h.status().message(), Not(HasSubstr("s3cret-token")));
}

TEST(ParseHeaderTest, AnErrorNamesTheKeyButNeverTheValue) {
  auto h = ParseHeader("app-secret: s3cret\nvalue");
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(h.status().message(), HasSubstr("-H 'app-secret: …'"));
  EXPECT_THAT(h.status().message(), Not(HasSubstr("s3cret")));
}

TEST(ParseHeaderTest, RejectsAnEmptyOrReservedKey) {
  EXPECT_FALSE(ParseHeader(": v").ok());
  EXPECT_FALSE(ParseHeader(":path: /x").ok());
  auto reserved = ParseHeader("grpc-timeout: 1S");
  ASSERT_FALSE(reserved.ok());
  EXPECT_THAT(reserved.status().message(), HasSubstr("reserved"));
}

TEST(ParseHeaderTest, RejectsAKeyWithCharactersHttp2DoesNotAllow) {
  auto h = ParseHeader("x key: v");
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(h.status().message(), HasSubstr("-H 'x key: …'"));
}

TEST(ParseHeaderTest, RejectsAControlCharacterInATextValue) {
  EXPECT_FALSE(ParseHeader("x-a: line\nbreak").ok());
  EXPECT_FALSE(ParseHeader("x-a: caf\xc3\xa9").ok());
}

TEST(ParseHeaderTest, RejectsABinaryValueThatIsNotBase64) {
  EXPECT_FALSE(ParseHeader("x-blob-bin: not base64!").ok());
}

TEST(ParseHeadersTest, KeepsTheOrderAndFailsOnTheFirstBadOne) {
  auto good = ParseHeaders({"a: 1", "b: 2", "a: 3"});
  ASSERT_TRUE(good.ok());
  EXPECT_THAT(*good, ::testing::ElementsAre(Pair("a", "1"), Pair("b", "2"), Pair("a", "3")));
  auto bad = ParseHeaders({"a: 1", "o ops: 2"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("o ops"));
}

}  // namespace
}  // namespace nodegate::client
