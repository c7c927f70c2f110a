#include "rpc/grpc_wire.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace nodegate::rpc {
namespace {

std::string Framed(std::string_view message) {
  std::string out;
  AppendFramedMessage(message, &out);
  return out;
}

TEST(MessageReaderTest, SplitsMessagesWhateverTheChunking) {
  const std::string wire = Framed("hello") + Framed("") + Framed(std::string(300, 'x'));
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{5}, size_t{7}, wire.size()}) {
    MessageReader reader(1024);
    std::vector<std::string> got;
    for (size_t i = 0; i < wire.size(); i += chunk) {
      ASSERT_TRUE(reader
                      .Feed(std::string_view(wire).substr(i, chunk),
                            [&](std::string&& m) { got.push_back(std::move(m)); })
                      .ok());
    }
    ASSERT_EQ(got.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(got[0], "hello");
    EXPECT_EQ(got[1], "");
    EXPECT_EQ(got[2], std::string(300, 'x'));
    EXPECT_TRUE(reader.at_boundary());
  }
}

TEST(MessageReaderTest, KnowsWhenAStreamEndsInsideAMessage) {
  MessageReader reader(1024);
  const std::string wire = Framed("abcdef");
  ASSERT_TRUE(reader.Feed(std::string_view(wire).substr(0, 3), [](std::string&&) {}).ok());
  EXPECT_FALSE(reader.at_boundary());  // inside the prefix
  ASSERT_TRUE(reader.Feed(std::string_view(wire).substr(3, 4), [](std::string&&) {}).ok());
  EXPECT_FALSE(reader.at_boundary());  // inside the body
  EXPECT_EQ(reader.buffered(), 2u);
}

TEST(MessageReaderTest, RefusesAnOversizedMessageFromItsPrefixAlone) {
  MessageReader reader(100);
  const std::string prefix("\x00\x00\x00\x00\x65", 5);  // 101 bytes announced, none sent
  int messages = 0;
  absl::Status s = reader.Feed(prefix, [&](std::string&&) { ++messages; });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("101 vs. 100"), std::string_view::npos) << s;
  EXPECT_EQ(messages, 0);
  EXPECT_EQ(reader.buffered(), 0u);
  // The reader stays failed.
  EXPECT_EQ(reader.Feed(Framed("a"), [&](std::string&&) { ++messages; }).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(messages, 0);
}

TEST(MessageReaderTest, RefusesACompressedMessage) {
  MessageReader reader(100);
  const std::string wire("\x01\x00\x00\x00\x01z", 6);
  absl::Status s = reader.Feed(wire, [](std::string&&) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("identity"), std::string_view::npos) << s;
}

TEST(MessageReaderTest, AcceptsAMessageOfExactlyTheLimit) {
  MessageReader reader(4);
  std::string got;
  ASSERT_TRUE(reader.Feed(Framed("abcd"), [&](std::string&& m) { got = m; }).ok());
  EXPECT_EQ(got, "abcd");
}

TEST(GrpcTimeoutTest, ParsesEveryUnit) {
  EXPECT_EQ(ParseGrpcTimeout("1H"), absl::Hours(1));
  EXPECT_EQ(ParseGrpcTimeout("2M"), absl::Minutes(2));
  EXPECT_EQ(ParseGrpcTimeout("3S"), absl::Seconds(3));
  EXPECT_EQ(ParseGrpcTimeout("40m"), absl::Milliseconds(40));
  EXPECT_EQ(ParseGrpcTimeout("99999999u"), absl::Microseconds(99999999));
  EXPECT_EQ(ParseGrpcTimeout("7n"), absl::Nanoseconds(7));
  EXPECT_EQ(ParseGrpcTimeout("0S"), absl::ZeroDuration());
}

TEST(GrpcTimeoutTest, RefusesWhatTheSpecDoesNotAllow) {
  for (const char* bad : {"", "S", "1", "1s", "-1S", "1.5S", "123456789S", " 1S", "1S ", "1x"}) {
    EXPECT_FALSE(ParseGrpcTimeout(bad).has_value()) << bad;
  }
}

TEST(PercentEncodingTest, EncodesWhatIsNotPrintableAsciiAndThePercentSign) {
  EXPECT_EQ(PercentEncode("plain text: ok"), "plain text: ok");
  EXPECT_EQ(PercentEncode("100%"), "100%25");
  EXPECT_EQ(PercentEncode("a\nb"), "a%0Ab");
  EXPECT_EQ(PercentEncode("\xc3\xa9t\xc3\xa9"), "%C3%A9t%C3%A9");
}

TEST(PercentEncodingTest, DecodesItsOwnOutputAndKeepsMalformedEscapes) {
  const std::string text = "naïve 100% \x01\x7f done";
  EXPECT_EQ(PercentDecode(PercentEncode(text)), text);
  EXPECT_EQ(PercentDecode("%"), "%");
  EXPECT_EQ(PercentDecode("%4"), "%4");
  EXPECT_EQ(PercentDecode("%zz%41"), "%zzA");
}

TEST(BinaryHeaderTest, EncodesWithoutPaddingAndDecodesEitherWay) {
  EXPECT_EQ(EncodeBinaryHeader(std::string("\x00\x01\x02\x03", 4)), "AAECAw");
  EXPECT_EQ(DecodeBinaryHeader("AAECAw"), std::string("\x00\x01\x02\x03", 4));
  EXPECT_EQ(DecodeBinaryHeader("AAECAw=="), std::string("\x00\x01\x02\x03", 4));
  EXPECT_FALSE(DecodeBinaryHeader("not base64!").has_value());
  EXPECT_TRUE(IsBinaryHeader("trace-bin"));
  EXPECT_FALSE(IsBinaryHeader("bin"));
  EXPECT_FALSE(IsBinaryHeader("trace-binx"));
}

}  // namespace
}  // namespace nodegate::rpc
