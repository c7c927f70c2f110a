#include "crypto/key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "crypto/digest.h"
#include "testlib/pem.h"

namespace nodegate::crypto {
namespace {

using ::nodegate::testlib::PemBody;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class KeyPerAlgorithmTest : public ::testing::TestWithParam<Algorithm> {};

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, KeyPerAlgorithmTest,
                         ::testing::Values(Algorithm::kSm2Sm3, Algorithm::kEcdsaP256Sha256,
                                           Algorithm::kEd25519),
                         [](const auto& info) {
                           std::string name(AlgorithmName(info.param));
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST_P(KeyPerAlgorithmTest, GeneratesPkcs8PrivateAndSpkiPublicPem) {
  auto pair = GenerateKeyPair(GetParam());
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_THAT(pair->private_key_pem, StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  EXPECT_THAT(pair->public_key_pem, StartsWith("-----BEGIN PUBLIC KEY-----\n"));
}

TEST_P(KeyPerAlgorithmTest, GeneratesADifferentKeyEachTime) {
  EXPECT_NE(GenerateKeyPair(GetParam())->private_key_pem,
            GenerateKeyPair(GetParam())->private_key_pem);
}

TEST_P(KeyPerAlgorithmTest, DetectsAlgorithmOfBothHalves) {
  auto pair = GenerateKeyPair(GetParam());
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(DetectAlgorithm(pair->public_key_pem).value(), GetParam());
  EXPECT_EQ(DetectAlgorithm(pair->private_key_pem).value(), GetParam());
}

TEST_P(KeyPerAlgorithmTest, DerivesTheSamePublicPemFromThePrivateKey) {
  auto pair = GenerateKeyPair(GetParam());
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(PublicKeyPemFromPrivate(pair->private_key_pem).value(), pair->public_key_pem);
}

TEST_P(KeyPerAlgorithmTest, FingerprintIsSha256OfTheDerSpki) {
  auto pair = GenerateKeyPair(GetParam());
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto fingerprint = PublicKeyFingerprint(pair->public_key_pem);
  ASSERT_TRUE(fingerprint.ok()) << fingerprint.status();
  EXPECT_EQ(*fingerprint, Sha256Hex(PemBody(pair->public_key_pem)));
  EXPECT_EQ(fingerprint->size(), 64u);
}

TEST(KeyTest, FingerprintsOfDifferentKeysDiffer) {
  EXPECT_NE(PublicKeyFingerprint(GenerateKeyPair(Algorithm::kEd25519)->public_key_pem).value(),
            PublicKeyFingerprint(GenerateKeyPair(Algorithm::kEd25519)->public_key_pem).value());
}

TEST(KeyTest, FingerprintRejectsAPrivateKey) {
  auto fingerprint = PublicKeyFingerprint(GenerateKeyPair(Algorithm::kEd25519)->private_key_pem);
  ASSERT_FALSE(fingerprint.ok());
  EXPECT_EQ(fingerprint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(fingerprint.status().message()), HasSubstr("BEGIN PUBLIC KEY"));
}

TEST(KeyTest, DetectAlgorithmRejectsGarbage) {
  for (const char* pem :
       {"", "hello", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}) {
    auto detected = DetectAlgorithm(pem);
    ASSERT_FALSE(detected.ok()) << pem;
    EXPECT_EQ(detected.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(detected.status().message()), HasSubstr("neither a PEM public key"));
  }
}

// An RSA key parses but serves none of our algorithms; the error says what it is.
constexpr char kRsaPublicPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAN3YhWulz0tejX33Y1Zoo4XHYTBGYqh/\n"
    "NYtf0TtCXM6kYb2HMgrffQLoKGkHVMXF/3rCRLp83G3//wx9oLjfrWsCAwEAAQ==\n"
    "-----END PUBLIC KEY-----\n";

TEST(KeyTest, DetectAlgorithmNamesAnUnsupportedKeyType) {
  auto detected = DetectAlgorithm(kRsaPublicPem);
  ASSERT_FALSE(detected.ok());
  EXPECT_EQ(detected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(detected.status().message()),
              HasSubstr("got a key of type RSA (512 bits)"));
}

TEST(KeyTest, PublicKeyPemFromPrivateRejectsAPublicKey) {
  auto derived = PublicKeyPemFromPrivate(GenerateKeyPair(Algorithm::kSm2Sm3)->public_key_pem);
  ASSERT_FALSE(derived.ok());
  EXPECT_EQ(derived.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(derived.status().message()), HasSubstr("BEGIN PRIVATE KEY"));
}

}  // namespace
}  // namespace nodegate::crypto
