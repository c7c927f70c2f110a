// Published vectors, so that our signatures are right by an outside measure and not only
// consistent with themselves.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "crypto/encoding.h"
#include "crypto/key.h"
#include "crypto/signer_factory.h"
#include "testlib/pem.h"

namespace nodegate::crypto {
namespace {

using ::nodegate::testlib::Pem;
using ::nodegate::testlib::Unhex;

// --- Ed25519: RFC 8032 §7.1, TEST 1 (empty message). Ed25519 is deterministic, so the exact
// signature bytes are checked, not only that they verify. ---

constexpr char kEd25519Seed[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr char kEd25519Public[] =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr char kEd25519Test1Signature[] =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
    "6bd25bf5f0595bbe24655141438e7a100b";

// PKCS#8 OneAsymmetricKey and SPKI prefixes for Ed25519 (RFC 8410).
std::string Ed25519PrivatePem() {
  return Pem("PRIVATE KEY", Unhex("302e020100300506032b657004220420") + Unhex(kEd25519Seed));
}
std::string Ed25519PublicPem() {
  return Pem("PUBLIC KEY", Unhex("302a300506032b6570032100") + Unhex(kEd25519Public));
}

TEST(Ed25519KnownAnswerTest, SignsRfc8032Test1ExactlyAsPublished) {
  auto signer = NewSigner(Algorithm::kEd25519, Ed25519PrivatePem());
  ASSERT_TRUE(signer.ok()) << signer.status();
  auto signature = (*signer)->Sign("");
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(HexEncode(*signature), kEd25519Test1Signature);
}

TEST(Ed25519KnownAnswerTest, VerifiesRfc8032Test1Signature) {
  auto verifier = NewVerifier(Algorithm::kEd25519, Ed25519PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE((*verifier)->Verify(Unhex(kEd25519Test1Signature), "").ok());
}

TEST(Ed25519KnownAnswerTest, DerivesRfc8032Test1PublicKey) {
  EXPECT_EQ(PublicKeyPemFromPrivate(Ed25519PrivatePem()).value(), Ed25519PublicPem());
}

TEST(Ed25519KnownAnswerTest, RejectsSignatureOfWrongSizeNamingTheSize) {
  auto verifier = NewVerifier(Algorithm::kEd25519, Ed25519PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  absl::Status status = (*verifier)->Verify(Unhex(kEd25519Test1Signature).substr(0, 63), "");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              ::testing::HasSubstr("invalid signature size (63); the only valid size is 64"));
}

// --- ECDSA P-256 with SHA-256: RFC 6979 §A.2.5, message "sample". ECDSA is randomised in
// OpenSSL, so this is a verify-only vector: r and s as published, DER-encoded. ---

std::string P256PublicPem() {
  return Pem("PUBLIC KEY",
             Unhex("3059301306072a8648ce3d020106082a8648ce3d030107034200"
                   "04"
                   "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
                   "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"));
}

// SEQUENCE { INTEGER r, INTEGER s }; both have the top bit set, hence the 00 sign byte.
std::string Rfc6979SampleSignature() {
  return Unhex(
      "3046"
      "022100efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
      "022100f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8");
}

TEST(EcdsaP256KnownAnswerTest, VerifiesRfc6979SampleSignature) {
  auto verifier = NewVerifier(Algorithm::kEcdsaP256Sha256, P256PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE((*verifier)->Verify(Rfc6979SampleSignature(), "sample").ok());
}

TEST(EcdsaP256KnownAnswerTest, RejectsRfc6979SignatureForAnotherMessage) {
  auto verifier = NewVerifier(Algorithm::kEcdsaP256Sha256, P256PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ((*verifier)->Verify(Rfc6979SampleSignature(), "test").code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(EcdsaP256KnownAnswerTest, RejectsBerEncodingOfAValidSignature) {
  // The same r and s with a long-form length (81 46): BER-valid, not DER. Accepting it would make
  // signatures malleable in their encoding.
  std::string ber = Rfc6979SampleSignature();
  ber.replace(0, 2, Unhex("308146"));
  auto verifier = NewVerifier(Algorithm::kEcdsaP256Sha256, P256PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ((*verifier)->Verify(ber, "sample").code(), absl::StatusCode::kInvalidArgument);
}

// The same r and s with one more 00 in front of r: its INTEGER is no longer minimal, so this is
// BER too. (Both variants of this maximum-size signature are over 72 bytes, so the size bound
// refuses them first; signer_test.cc shows OpenSSL's decoder refusing them within the bound.)
std::string WithRPaddedByAZero(const std::string& der) {
  std::string padded = der;
  padded[1] = static_cast<char>(padded[1] + 1);  // SEQUENCE length
  padded[3] = static_cast<char>(padded[3] + 1);  // r's INTEGER length
  padded.insert(4, 1, '\0');
  return padded;
}

TEST(EcdsaP256KnownAnswerTest, RejectsAZeroPaddedIntegerInAValidSignature) {
  auto verifier = NewVerifier(Algorithm::kEcdsaP256Sha256, P256PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  absl::Status status = (*verifier)->Verify(WithRPaddedByAZero(Rfc6979SampleSignature()), "sample");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

TEST(EcdsaP256KnownAnswerTest, StillVerifiesAfterRefusingAMalformedSignature) {
  // Each call works on a copy of the verifier's prepared context; a refused call leaves it intact.
  auto verifier = NewVerifier(Algorithm::kEcdsaP256Sha256, P256PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  ASSERT_FALSE((*verifier)->Verify(WithRPaddedByAZero(Rfc6979SampleSignature()), "sample").ok());
  ASSERT_FALSE((*verifier)->Verify(Rfc6979SampleSignature(), "test").ok());
  EXPECT_TRUE((*verifier)->Verify(Rfc6979SampleSignature(), "sample").ok());
}

// --- SM2 with SM3: GM/T 0003.5-2012 Annex A (= GB/T 32918.2-2016 example) on the recommended
// curve, ID "1234567812345678", message "message digest". Verify-only: SM2 signing is randomised.
// This vector is from the standard, not from OpenSSL, so it pins the distinguishing ID. ---

std::string Sm2PublicPem() {
  // SPKI: id-ecPublicKey with the SM2 curve OID 1.2.156.10197.1.301.
  return Pem("PUBLIC KEY",
             Unhex("3059301306072a8648ce3d020106082a811ccf5501822d034200"
                   "04"
                   "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
                   "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"));
}

std::string Sm2StandardSignature() {
  return Unhex(
      "3046"
      "022100f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"
      "022100b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa");
}

TEST(Sm2Sm3KnownAnswerTest, VerifiesGmT0003Signature) {
  auto verifier = NewVerifier(Algorithm::kSm2Sm3, Sm2PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  absl::Status status = (*verifier)->Verify(Sm2StandardSignature(), "message digest");
  EXPECT_TRUE(status.ok()) << status;
}

TEST(Sm2Sm3KnownAnswerTest, RejectsGmT0003SignatureForAnotherMessage) {
  auto verifier = NewVerifier(Algorithm::kSm2Sm3, Sm2PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ((*verifier)->Verify(Sm2StandardSignature(), "message digesT").code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(Sm2Sm3KnownAnswerTest, RejectsBerEncodingsOfTheStandardSignature) {
  std::string long_form = Sm2StandardSignature();
  long_form.replace(0, 2, Unhex("308146"));
  auto verifier = NewVerifier(Algorithm::kSm2Sm3, Sm2PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ((*verifier)->Verify(long_form, "message digest").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      (*verifier)->Verify(WithRPaddedByAZero(Sm2StandardSignature()), "message digest").code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(Sm2Sm3KnownAnswerTest, VerifiesTheStandardSignatureRepeatedly) {
  // Z_A (ID, curve, key) is hashed once into the prepared context; every call must start from it.
  auto verifier = NewVerifier(Algorithm::kSm2Sm3, Sm2PublicPem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE((*verifier)->Verify(Sm2StandardSignature(), "message digest").ok()) << i;
    EXPECT_FALSE((*verifier)->Verify(Sm2StandardSignature(), "message digesT").ok()) << i;
  }
}

TEST(Sm2Sm3KnownAnswerTest, DetectsTheStandardKeyAsSm2) {
  EXPECT_EQ(DetectAlgorithm(Sm2PublicPem()).value(), Algorithm::kSm2Sm3);
}

}  // namespace
}  // namespace nodegate::crypto
