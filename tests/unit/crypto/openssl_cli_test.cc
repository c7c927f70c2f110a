// Cross-checks against the `openssl` command-line tool: it must verify our signatures and we must
// verify its. For SM2 this also pins the distinguishing ID: the tool is told "1234567812345678"
// explicitly, and without it (OpenSSL 3.0's empty default) neither side may accept the other.
// (The tool uses the same libcrypto as we do, so this checks conventions, not the maths; the
// published vectors in known_answer_test.cc check the maths.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "crypto/key.h"
#include "crypto/signer_factory.h"
#include "testlib/files.h"
#include "testlib/temp_dir.h"

namespace nodegate::crypto {
namespace {

using ::nodegate::testlib::ReadFile;
using ::nodegate::testlib::RunCommand;
using ::nodegate::testlib::WriteFile;
using ::testing::HasSubstr;

constexpr char kMessage[] =
    "NODEGATE-SIG-V1\n/api.DiceService/"
    "RollDie\nnode-b\nnode-a\n1767225600000\nq3Vb1x9QmZ0kS4d7TgXh2A";
constexpr char kSm2IdOption[] = " -sigopt distid:1234567812345678";

// Key files and the message in a scratch directory, and the commands that sign and verify them.
class OpenSslCliTest : public ::testing::Test {
 protected:
  void Prepare(Algorithm algorithm) {
    auto keys = GenerateKeyPair(algorithm);
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *keys;
    WriteFile(Path("key.pem"), keys_.private_key_pem);
    WriteFile(Path("pub.pem"), keys_.public_key_pem);
    WriteFile(Path("msg.bin"), kMessage);
  }

  std::string Path(const char* name) const { return dir_.File(name); }

  // openssl dgst for SM2 and ECDSA; `options` carries -sigopt.
  std::string DgstSign(const char* digest, const std::string& options) const {
    return std::string("openssl dgst -") + digest + " -sign " + Path("key.pem") + options +
           " -out " + Path("cli.sig") + " " + Path("msg.bin");
  }
  std::string DgstVerify(const char* digest, const std::string& options) const {
    return std::string("openssl dgst -") + digest + " -verify " + Path("pub.pem") + options +
           " -signature " + Path("ours.sig") + " " + Path("msg.bin");
  }

  ::nodegate::testlib::ScopedTempDir dir_;
  KeyPair keys_;
};

TEST_F(OpenSslCliTest, CliVerifiesOurSm2Signature) {
  Prepare(Algorithm::kSm2Sm3);
  auto signer = NewSigner(Algorithm::kSm2Sm3, keys_.private_key_pem);
  ASSERT_TRUE(signer.ok()) << signer.status();
  WriteFile(Path("ours.sig"), (*signer)->Sign(kMessage).value());
  EXPECT_EQ(RunCommand(DgstVerify("sm3", kSm2IdOption), Path("log")), 0) << ReadFile(Path("log"));
}

TEST_F(OpenSslCliTest, CliWithDefaultEmptyIdRejectsOurSm2Signature) {
  Prepare(Algorithm::kSm2Sm3);
  auto signer = NewSigner(Algorithm::kSm2Sm3, keys_.private_key_pem);
  ASSERT_TRUE(signer.ok()) << signer.status();
  WriteFile(Path("ours.sig"), (*signer)->Sign(kMessage).value());
  EXPECT_NE(RunCommand(DgstVerify("sm3", ""), Path("log")), 0);
  EXPECT_THAT(ReadFile(Path("log")), HasSubstr("Verification failure"));
}

TEST_F(OpenSslCliTest, VerifiesCliSm2Signature) {
  Prepare(Algorithm::kSm2Sm3);
  ASSERT_EQ(RunCommand(DgstSign("sm3", kSm2IdOption), Path("log")), 0) << ReadFile(Path("log"));
  auto verifier = NewVerifier(Algorithm::kSm2Sm3, keys_.public_key_pem);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  absl::Status status = (*verifier)->Verify(ReadFile(Path("cli.sig")), kMessage);
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(OpenSslCliTest, RejectsCliSm2SignatureMadeWithEmptyId) {
  Prepare(Algorithm::kSm2Sm3);
  ASSERT_EQ(RunCommand(DgstSign("sm3", ""), Path("log")), 0) << ReadFile(Path("log"));
  auto verifier = NewVerifier(Algorithm::kSm2Sm3, keys_.public_key_pem);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ((*verifier)->Verify(ReadFile(Path("cli.sig")), kMessage).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(OpenSslCliTest, CliVerifiesOurEcdsaP256Signature) {
  Prepare(Algorithm::kEcdsaP256Sha256);
  auto signer = NewSigner(Algorithm::kEcdsaP256Sha256, keys_.private_key_pem);
  ASSERT_TRUE(signer.ok()) << signer.status();
  WriteFile(Path("ours.sig"), (*signer)->Sign(kMessage).value());
  EXPECT_EQ(RunCommand(DgstVerify("sha256", ""), Path("log")), 0) << ReadFile(Path("log"));
}

TEST_F(OpenSslCliTest, VerifiesCliEcdsaP256Signature) {
  Prepare(Algorithm::kEcdsaP256Sha256);
  ASSERT_EQ(RunCommand(DgstSign("sha256", ""), Path("log")), 0) << ReadFile(Path("log"));
  auto verifier = NewVerifier(Algorithm::kEcdsaP256Sha256, keys_.public_key_pem);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  absl::Status status = (*verifier)->Verify(ReadFile(Path("cli.sig")), kMessage);
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(OpenSslCliTest, CliAndWeProduceIdenticalEd25519Signatures) {
  // Ed25519 is deterministic: the same key and message give the same bytes everywhere.
  Prepare(Algorithm::kEd25519);
  ASSERT_EQ(RunCommand("openssl pkeyutl -sign -rawin -inkey " + Path("key.pem") + " -in " +
                           Path("msg.bin") + " -out " + Path("cli.sig"),
                       Path("log")),
            0)
      << ReadFile(Path("log"));
  auto signer = NewSigner(Algorithm::kEd25519, keys_.private_key_pem);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->Sign(kMessage).value(), ReadFile(Path("cli.sig")));
}

TEST_F(OpenSslCliTest, FingerprintMatchesCliDerSha256) {
  Prepare(Algorithm::kSm2Sm3);
  ASSERT_EQ(RunCommand("openssl pkey -pubin -in " + Path("pub.pem") +
                           " -outform DER | openssl dgst "
                           "-sha256 -r",
                       Path("log")),
            0)
      << ReadFile(Path("log"));
  const std::string cli = ReadFile(Path("log")).substr(0, 64);
  EXPECT_EQ(PublicKeyFingerprint(keys_.public_key_pem).value(), cli);
}

}  // namespace
}  // namespace nodegate::crypto
