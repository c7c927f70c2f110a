// Sign/verify behaviour shared by every algorithm, and the factory's key checks.
#include "crypto/signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "crypto/key.h"
#include "crypto/signer_factory.h"
#include "crypto/verifier.h"

namespace nodegate::crypto {
namespace {

using ::testing::HasSubstr;

constexpr char kMessage[] =
    "NODEGATE-SIG-V1\n/api.DiceService/"
    "RollDie\nnode-b\nnode-a\n1767225600000\nq3Vb1x9QmZ0kS4d7TgXh2A";

std::string Name(const ::testing::TestParamInfo<Algorithm>& info) {
  std::string name(AlgorithmName(info.param));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

// A key pair with its signer and verifier, for the algorithm under test.
class SignerTest : public ::testing::TestWithParam<Algorithm> {
 protected:
  void SetUp() override {
    auto pair = GenerateKeyPair(GetParam());
    ASSERT_TRUE(pair.ok()) << pair.status();
    keys_ = *pair;
    auto signer = NewSigner(GetParam(), keys_.private_key_pem);
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = *std::move(signer);
    auto verifier = NewVerifier(GetParam(), keys_.public_key_pem);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
  }

  std::string SignOrDie(std::string_view data) {
    auto signature = signer_->Sign(data);
    EXPECT_TRUE(signature.ok()) << signature.status();
    return signature.ok() ? *signature : std::string();
  }

  KeyPair keys_;
  std::unique_ptr<Signer> signer_;
  std::unique_ptr<Verifier> verifier_;
};

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, SignerTest,
                         ::testing::Values(Algorithm::kSm2Sm3, Algorithm::kEcdsaP256Sha256,
                                           Algorithm::kEd25519),
                         Name);

TEST_P(SignerTest, VerifiesItsOwnSignature) {
  EXPECT_TRUE(verifier_->Verify(SignOrDie(kMessage), kMessage).ok());
}

TEST_P(SignerTest, ReportsItsAlgorithm) {
  EXPECT_EQ(signer_->algorithm(), GetParam());
  EXPECT_EQ(verifier_->algorithm(), GetParam());
}

TEST_P(SignerTest, SignsEmptyAndBinaryMessages) {
  const std::string binary("\x00\xff\n\x00", 4);
  EXPECT_TRUE(verifier_->Verify(SignOrDie(""), "").ok());
  EXPECT_TRUE(verifier_->Verify(SignOrDie(binary), binary).ok());
}

TEST_P(SignerTest, RejectsFlippedSignatureByte) {
  const std::string signature = SignOrDie(kMessage);
  // The last byte is inside s (or S for Ed25519), so the DER framing stays intact and this is a
  // mismatch, not a malformed signature.
  std::string tampered = signature;
  tampered.back() = static_cast<char>(tampered.back() ^ 0x01);
  absl::Status status = verifier_->Verify(tampered, kMessage);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("signature mismatch"));
}

TEST_P(SignerTest, RejectsEveryFlippedSignatureByte) {
  const std::string signature = SignOrDie(kMessage);
  for (size_t i = 0; i < signature.size(); ++i) {
    std::string tampered = signature;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x80);
    EXPECT_FALSE(verifier_->Verify(tampered, kMessage).ok()) << "byte " << i;
  }
}

TEST_P(SignerTest, RejectsChangedMessage) {
  const std::string signature = SignOrDie(kMessage);
  std::string changed = kMessage;
  changed[changed.size() - 1] ^= 0x01;
  EXPECT_EQ(verifier_->Verify(signature, changed).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier_->Verify(signature, std::string(kMessage) + "\n").code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_P(SignerTest, RejectsSignatureFromAnotherKey) {
  auto other_keys = GenerateKeyPair(GetParam());
  ASSERT_TRUE(other_keys.ok()) << other_keys.status();
  auto other_signer = NewSigner(GetParam(), other_keys->private_key_pem);
  ASSERT_TRUE(other_signer.ok()) << other_signer.status();
  const std::string signature = (*other_signer)->Sign(kMessage).value();
  EXPECT_EQ(verifier_->Verify(signature, kMessage).code(), absl::StatusCode::kUnauthenticated);
}

TEST_P(SignerTest, RejectsEmptySignatureAsMalformed) {
  absl::Status status = verifier_->Verify("", kMessage);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

TEST_P(SignerTest, RejectsTruncatedSignatureAsMalformed) {
  const std::string signature = SignOrDie(kMessage);
  absl::Status status = verifier_->Verify(signature.substr(0, signature.size() - 1), kMessage);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

TEST_P(SignerTest, RejectsSignatureWithTrailingBytesAsMalformed) {
  absl::Status status = verifier_->Verify(SignOrDie(kMessage) + std::string(1, '\0'), kMessage);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

TEST_P(SignerTest, RejectsBerEncodingsOfItsOwnSignatureAsMalformed) {
  if (GetParam() == Algorithm::kEd25519) GTEST_SKIP() << "Ed25519 signatures are not DER";
  // A signature of at most 70 bytes (typically neither r nor s needs a sign byte: one signature
  // in four), so that both BER variants stay within the 72-byte bound and reach OpenSSL's
  // decoder, which must refuse them because re-encoding does not reproduce them.
  std::string der;
  for (int i = 0; i < 100 && (der.empty() || der.size() > 70); ++i) der = SignOrDie(kMessage);
  ASSERT_LE(der.size(), 70u);
  ASSERT_TRUE(verifier_->Verify(der, kMessage).ok());
  std::string long_form = der;  // 30 len -> 30 81 len
  long_form.insert(1, 1, '\x81');
  std::string padded = der;  // r = 02 len v -> 02 len+1 00 v
  padded[1] = static_cast<char>(padded[1] + 1);
  padded[3] = static_cast<char>(padded[3] + 1);
  padded.insert(4, 1, '\0');
  for (const std::string& ber : {long_form, padded}) {
    absl::Status status = verifier_->Verify(ber, kMessage);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("malformed signature"));
  }
}

TEST_P(SignerTest, RejectsGarbageSignature) {
  EXPECT_FALSE(verifier_->Verify(std::string(64, 'A'), kMessage).ok());
  EXPECT_FALSE(verifier_->Verify(std::string(100000, '\x30'), kMessage).ok());
}

TEST_P(SignerTest, RejectsGarbagePem) {
  for (const char* pem :
       {"", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}) {
    auto signer = NewSigner(GetParam(), pem);
    ASSERT_FALSE(signer.ok()) << pem;
    EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
    auto verifier = NewVerifier(GetParam(), pem);
    ASSERT_FALSE(verifier.ok()) << pem;
    EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_P(SignerTest, SignerRefusesAPublicKeyAndVerifierAPrivateKey) {
  auto signer = NewSigner(GetParam(), keys_.public_key_pem);
  ASSERT_FALSE(signer.ok());
  EXPECT_THAT(std::string(signer.status().message()), HasSubstr("BEGIN PRIVATE KEY"));
  auto verifier = NewVerifier(GetParam(), keys_.private_key_pem);
  ASSERT_FALSE(verifier.ok());
  EXPECT_THAT(std::string(verifier.status().message()), HasSubstr("BEGIN PUBLIC KEY"));
}

TEST_P(SignerTest, RejectsEncryptedPrivateKeyWithoutPrompting) {
  // Encrypted PKCS#8 ("BEGIN ENCRYPTED PRIVATE KEY"); with no passphrase callback OpenSSL would
  // block reading the terminal.
  const std::string pem =
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
      "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAjXCO+HlFjFhQICCAAw\n"
      "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEFPahvyHDIfoXQXFbtbJzTAEQAMx\n"
      "R/LfIiKa41x+hbPEyab6ievg5vTV1LSnFM2O6Voz3cHcMLLDh4QAeCEOjPjFkXzt\n"
      "QI8i2yeyRzy/pl6e3XU=\n"
      "-----END ENCRYPTED PRIVATE KEY-----\n";
  auto signer = NewSigner(GetParam(), pem);
  ASSERT_FALSE(signer.ok());
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(SignerTest, VerifiesFromEightThreadsAtOnce) {
  // One shared verifier, as the auth processor holds it; threads mix valid and invalid signatures
  // so that a context or error queue shared by mistake would show up as a wrong verdict.
  const std::string good = SignOrDie(kMessage);
  std::string bad = good;
  bad.back() = static_cast<char>(bad.back() ^ 0x01);
  constexpr int kThreads = 8;
  constexpr int kIterations = 50;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        const bool use_good = (i + t) % 2 == 0;
        absl::Status s = verifier_->Verify(use_good ? good : bad, kMessage);
        if (s.ok() != use_good) ++wrong;
        if (!use_good && s.code() != absl::StatusCode::kUnauthenticated) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_P(SignerTest, SignsFromEightThreadsAtOnce) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        const std::string data = std::string(kMessage) + std::to_string(t * 1000 + i);
        auto signature = signer_->Sign(data);
        if (!signature.ok() || !verifier_->Verify(*signature, data).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- the factory refuses a key of the wrong type, saying what it expected and what it got ---

struct MismatchCase {
  Algorithm algorithm;
  Algorithm key_algorithm;
  const char* expected;
  const char* got;
};

class KeyTypeMismatchTest : public ::testing::TestWithParam<MismatchCase> {};

INSTANTIATE_TEST_SUITE_P(
    AllPairs, KeyTypeMismatchTest,
    ::testing::Values(MismatchCase{Algorithm::kSm2Sm3, Algorithm::kEcdsaP256Sha256,
                                   "needs an SM2 key", "got an EC key on curve prime256v1"},
                      MismatchCase{Algorithm::kSm2Sm3, Algorithm::kEd25519, "needs an SM2 key",
                                   "got an ED25519 key"},
                      MismatchCase{Algorithm::kEcdsaP256Sha256, Algorithm::kSm2Sm3,
                                   "needs an EC key on curve prime256v1", "got an SM2 key"},
                      MismatchCase{Algorithm::kEcdsaP256Sha256, Algorithm::kEd25519,
                                   "needs an EC key on curve prime256v1", "got an ED25519 key"},
                      MismatchCase{Algorithm::kEd25519, Algorithm::kSm2Sm3, "needs an ED25519 key",
                                   "got an SM2 key"},
                      MismatchCase{Algorithm::kEd25519, Algorithm::kEcdsaP256Sha256,
                                   "needs an ED25519 key", "got an EC key on curve prime256v1"}));

TEST_P(KeyTypeMismatchTest, SignerAndVerifierRefuseTheKey) {
  const MismatchCase& c = GetParam();
  auto keys = GenerateKeyPair(c.key_algorithm);
  ASSERT_TRUE(keys.ok()) << keys.status();
  for (const absl::Status& status : {NewSigner(c.algorithm, keys->private_key_pem).status(),
                                     NewVerifier(c.algorithm, keys->public_key_pem).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    const std::string message(status.message());
    EXPECT_THAT(message, HasSubstr("key type mismatch"));
    EXPECT_THAT(message, HasSubstr(std::string(AlgorithmName(c.algorithm))));
    EXPECT_THAT(message, HasSubstr(c.expected));
    EXPECT_THAT(message, HasSubstr(c.got));
  }
}

// P-384 is an EC key too, but not the curve ecdsa-p256-sha256 means.
constexpr char kP384PublicPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEiHdvQdP+opn8rtoy0kSXbsOl6af0bJSE\n"
    "86zAJxmwYPyx0YYk27Ca3+arlefKaw3F4CkCY+I0f8Qrfnw6bj7yiS8R14x1rKT4\n"
    "/Wuk4dCsHxJDM/e4HC+Vfj2uRkAmOyiw\n"
    "-----END PUBLIC KEY-----\n";

TEST(KeyTypeTest, EcdsaRefusesAnotherCurve) {
  auto verifier = NewVerifier(Algorithm::kEcdsaP256Sha256, kP384PublicPem);
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verifier.status().message()),
              HasSubstr("needs an EC key on curve prime256v1 (P-256), got an EC key on curve "
                        "secp384r1"));
}

}  // namespace
}  // namespace nodegate::crypto
