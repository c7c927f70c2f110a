#include "auth/signature_v1.h"

#include <algorithm>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nodegate::auth::sigv1 {
namespace {

using ::testing::HasSubstr;

constexpr char kNonce[] = "AAECAwQFBgcICQoLDA0ODw";  // bytes 0..15
constexpr char kSig[] = "3q2-7w";                    // de ad be ef

TEST(StringToSignTest, IsTheSixFieldsJoinedByNewlinesExactly) {
  EXPECT_EQ(StringToSign("/api.DiceService/RollDie", "node-b", "node-a", "1767225600000",
                         "q3Vb1x9QmZ0kS4d7TgXh2A"),
            "NODEGATE-SIG-V1\n/api.DiceService/RollDie\nnode-b\nnode-a\n1767225600000\n"
            "q3Vb1x9QmZ0kS4d7TgXh2A");
}

TEST(StringToSignTest, HasNoTrailingNewline) {
  std::string s = StringToSign("/p.S/M", "aud", "id", "1", "nonce");
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s.back(), 'e');
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 5);
}

TEST(StringToSignTest, StartsWithTheDomain) {
  EXPECT_EQ(StringToSign("", "", "", "", "").substr(0, 16), "NODEGATE-SIG-V1\n");
}

TEST(NodeIdTest, AcceptsLettersDigitsDotUnderscoreHyphen) {
  EXPECT_TRUE(IsValidNodeId("node-a"));
  EXPECT_TRUE(IsValidNodeId("Node_1.eu-west"));
  EXPECT_TRUE(IsValidNodeId("x"));
}

TEST(NodeIdTest, Accepts128CharactersAndRefuses129) {
  EXPECT_TRUE(IsValidNodeId(std::string(128, 'a')));
  EXPECT_FALSE(IsValidNodeId(std::string(129, 'a')));
}

TEST(NodeIdTest, RefusesEmpty) { EXPECT_FALSE(IsValidNodeId("")); }

TEST(NodeIdTest, RefusesSeparatorsSpacesAndNonAscii) {
  for (const std::string& id : std::vector<std::string>{"a/b", "a b", "a\nb", "a:b", "a@b", "nöde",
                                                        std::string("a\0b", 3)}) {
    EXPECT_FALSE(IsValidNodeId(id)) << id;
  }
}

TEST(ParseSignedHeadersTest, ParsesWellFormedHeaders) {
  absl::StatusOr<SignedHeaders> h = ParseSignedHeaders("node-a", "1767225600000", kNonce, kSig);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->node_id, "node-a");
  EXPECT_EQ(h->timestamp, "1767225600000");
  EXPECT_EQ(h->timestamp_ms, 1767225600000);
  EXPECT_EQ(h->nonce, kNonce);
  EXPECT_EQ(h->signature, "\xde\xad\xbe\xef");
}

void ExpectRefused(const absl::StatusOr<SignedHeaders>& h, std::string_view message) {
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(std::string(h.status().message()), message);
}

TEST(ParseSignedHeadersTest, RefusesInvalidNodeId) {
  ExpectRefused(ParseSignedHeaders("a/b", "1", kNonce, kSig),
                "x-node-id: not [A-Za-z0-9._-]{1,128}");
}

TEST(ParseSignedHeadersTest, RefusesNonDecimalTimestamp) {
  for (const std::string& ts : std::vector<std::string>{"-1", "1e3", "0x10", " 1", "1.5"}) {
    ExpectRefused(ParseSignedHeaders("a", ts, kNonce, kSig),
                  "x-node-timestamp: not a decimal number");
  }
}

TEST(ParseSignedHeadersTest, RefusesEmptyOrOversizedTimestamp) {
  ExpectRefused(ParseSignedHeaders("a", "", kNonce, kSig),
                "x-node-timestamp: not a Unix time in milliseconds");
  ExpectRefused(ParseSignedHeaders("a", std::string(17, '1'), kNonce, kSig),
                "x-node-timestamp: not a Unix time in milliseconds");
}

TEST(ParseSignedHeadersTest, RefusesNonceThatIsNotBase64Url) {
  for (const std::string& n : std::vector<std::string>{
           "AAECAwQFBgcICQoLDA0ODw==", "AAECAwQFBgcICQoLDA0OD+", "AAECAwQF BgcICQoLDA0ODw"}) {
    ExpectRefused(ParseSignedHeaders("a", "1", n, kSig),
                  "x-node-nonce: not base64url without padding");
  }
}

TEST(ParseSignedHeadersTest, RefusesNonceShorterThan16Bytes) {
  ExpectRefused(ParseSignedHeaders("a", "1", "AAECAwQFBgcICQoLDA0O", kSig),  // 15 bytes
                "x-node-nonce: shorter than 16 bytes");
}

TEST(ParseSignedHeadersTest, AcceptsA64ByteNonceAndRefusesLonger) {
  std::string n64 = crypto::Base64UrlEncode(std::string(64, 'n'));
  EXPECT_TRUE(ParseSignedHeaders("a", "1", n64, kSig).ok());
  std::string n65 = crypto::Base64UrlEncode(std::string(65, 'n'));
  ExpectRefused(ParseSignedHeaders("a", "1", n65, kSig), "x-node-nonce: too long");
}

TEST(ParseSignedHeadersTest, RefusesSignatureThatIsNotBase64Url) {
  ExpectRefused(ParseSignedHeaders("a", "1", kNonce, "3q2+7w=="),
                "x-node-signature: not base64url without padding");
}

TEST(ParseSignedHeadersTest, RefusesEmptySignature) {
  ExpectRefused(ParseSignedHeaders("a", "1", kNonce, ""),
                "x-node-signature: not base64url without padding");
}

TEST(ParseSignedHeadersTest, RefusesOversizedSignatureBeforeDecoding) {
  ExpectRefused(ParseSignedHeaders("a", "1", kNonce, std::string(kMaxSignatureChars + 1, 'A')),
                "x-node-signature: too long");
}

TEST(ParseSignedHeadersTest, MessagesNeverEchoTheValue) {
  absl::StatusOr<SignedHeaders> h = ParseSignedHeaders("a", "1", "SECRETSECRETSECRET!", kSig);
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(std::string(h.status().message()), ::testing::Not(HasSubstr("SECRET")));
}

}  // namespace
}  // namespace nodegate::auth::sigv1
