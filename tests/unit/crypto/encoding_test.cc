#include "crypto/encoding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace nodegate::crypto {
namespace {

using ::testing::HasSubstr;

std::string AllBytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
  return s;
}

// Asserts INVALID_ARGUMENT with `fragment` in the message.
void ExpectRejected(const absl::StatusOr<std::string>& decoded, const std::string& fragment) {
  ASSERT_FALSE(decoded.ok()) << "decoded to " << decoded.value().size() << " bytes";
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(decoded.status().message()), HasSubstr(fragment));
}

// --- base64url, no padding (wire form of nonces and signatures) ---

// RFC 4648 §10 vectors, padding removed.
TEST(Base64UrlTest, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

TEST(Base64UrlTest, UsesDashAndUnderscoreInsteadOfPlusAndSlash) {
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(Base64Encode("\xfb\xff\xbf"), "+/+/");
}

TEST(Base64UrlTest, RoundTripsEveryByteAtEveryLength) {
  const std::string all = AllBytes();
  for (size_t n = 0; n <= all.size(); ++n) {
    const std::string data = all.substr(all.size() - n);
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(data)).value(), data) << n;
  }
}

TEST(Base64UrlTest, DecodesEmptyStringToEmpty) { EXPECT_EQ(Base64UrlDecode("").value(), ""); }

TEST(Base64UrlTest, RejectsPadding) {
  ExpectRejected(Base64UrlDecode("Zg=="), "padding '=' at offset 2 is not allowed");
  ExpectRejected(Base64UrlDecode("Zm8="), "padding");
}

TEST(Base64UrlTest, RejectsStandardAlphabetCharacters) {
  ExpectRejected(Base64UrlDecode("+/+/"), "invalid character '+' at offset 0");
  ExpectRejected(Base64UrlDecode("ab/c"), "invalid character '/' at offset 2");
}

TEST(Base64UrlTest, RejectsWhitespaceAnywhere) {
  ExpectRejected(Base64UrlDecode("Zm9v\n"), "invalid character byte 0x0a at offset 4");
  ExpectRejected(Base64UrlDecode(" Zm9v"), "byte 0x20 at offset 0");
  ExpectRejected(Base64UrlDecode("Zm 9v"), "offset 2");
}

TEST(Base64UrlTest, RejectsImpossibleLength) {
  ExpectRejected(Base64UrlDecode("Z"), "impossible length 1");
  ExpectRejected(Base64UrlDecode("Zm9vY"), "impossible length 5");
}

TEST(Base64UrlTest, RejectsNonCanonicalTrailingBits) {
  // "Zg" is the only encoding of "f"; "Zh" carries the same byte plus stray low bits.
  ExpectRejected(Base64UrlDecode("Zh"), "non-canonical");
  ExpectRejected(Base64UrlDecode("Zm9"), "non-canonical");
  EXPECT_EQ(Base64UrlDecode("Zm8").value(), "fo");
}

TEST(Base64UrlTest, RejectsNulAndHighBytes) {
  ExpectRejected(Base64UrlDecode(std::string("Zm\0v", 4)), "byte 0x00 at offset 2");
  ExpectRejected(Base64UrlDecode("Zm\xc3\xa9"), "byte 0xc3 at offset 2");
}

// --- standard base64, padded ---

TEST(Base64Test, EncodesRfc4648VectorsWithPadding) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, RoundTripsEveryByteAtEveryLength) {
  const std::string all = AllBytes();
  for (size_t n = 0; n <= all.size(); ++n) {
    const std::string data = all.substr(0, n);
    EXPECT_EQ(Base64Decode(Base64Encode(data)).value(), data) << n;
  }
}

TEST(Base64Test, RequiresPadding) { ExpectRejected(Base64Decode("Zg"), "not a multiple of 4"); }

TEST(Base64Test, RejectsMisplacedPadding) {
  ExpectRejected(Base64Decode("Z=g="), "misplaced padding '=' at offset 1");
  ExpectRejected(Base64Decode("Z==="), "misplaced padding");
  ExpectRejected(Base64Decode("===="), "misplaced padding");
}

TEST(Base64Test, RejectsUrlAlphabetAndWhitespace) {
  ExpectRejected(Base64Decode("-_-_"), "invalid character '-' at offset 0");
  ExpectRejected(Base64Decode("Zm9v\r\n=="), "invalid character");
}

TEST(Base64Test, RejectsNonCanonicalTrailingBits) {
  ExpectRejected(Base64Decode("Zh=="), "non-canonical");
}

// --- hex ---

TEST(HexTest, EncodesLowercase) {
  EXPECT_EQ(HexEncode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(HexEncode(""), "");
}

TEST(HexTest, DecodesEitherCase) {
  EXPECT_EQ(HexDecode("0001abff").value(), std::string("\x00\x01\xab\xff", 4));
  EXPECT_EQ(HexDecode("0001ABFF").value(), std::string("\x00\x01\xab\xff", 4));
  EXPECT_EQ(HexDecode("aBcD").value(), "\xab\xcd");
}

TEST(HexTest, RoundTripsEveryByte) {
  EXPECT_EQ(HexDecode(HexEncode(AllBytes())).value(), AllBytes());
}

TEST(HexTest, RejectsOddLength) { ExpectRejected(HexDecode("abc"), "odd length 3"); }

TEST(HexTest, RejectsNonHexCharacters) {
  ExpectRejected(HexDecode("0g"), "invalid character 'g' at offset 1");
  ExpectRejected(HexDecode("0x12"), "invalid character 'x' at offset 1");
  ExpectRejected(HexDecode(" 1"), "byte 0x20 at offset 0");
}

}  // namespace
}  // namespace nodegate::crypto
