#include "crypto/digest.h"

#include <gtest/gtest.h>

#include "crypto/encoding.h"

namespace nodegate::crypto {
namespace {

// FIPS 180-2 Appendix B.1.
TEST(DigestTest, Sha256OfAbcMatchesFips180) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, Sha256IsThirtyTwoRawBytes) { EXPECT_EQ(Sha256("abc").size(), 32u); }

TEST(DigestTest, Sha256OfEmptyInput) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(DigestTest, Sha256HexIsLowercaseHexOfSha256) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// GB/T 32905-2016 Appendix A, example 1.
TEST(DigestTest, Sm3OfAbcMatchesGbT32905) {
  EXPECT_EQ(HexEncode(Sm3("abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
}

// GB/T 32905-2016 Appendix A, example 2: "abcd" repeated 16 times.
TEST(DigestTest, Sm3OfSixtyFourBytesMatchesGbT32905) {
  std::string input;
  for (int i = 0; i < 16; ++i) input += "abcd";
  EXPECT_EQ(HexEncode(Sm3(input)),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
}

TEST(DigestTest, DigestsCoverEmbeddedNulBytes) {
  EXPECT_NE(Sha256(std::string("a\0b", 3)), Sha256("a"));
}

}  // namespace
}  // namespace nodegate::crypto
