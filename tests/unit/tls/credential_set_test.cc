#include "tls/credential_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "testlib/files.h"
#include "testlib/pki.h"
#include "testlib/temp_dir.h"

namespace nodegate::tls {
namespace {

using ::nodegate::testlib::ReadFile;
using ::nodegate::testlib::SerialOf;
using ::nodegate::testlib::TestCa;
using ::nodegate::testlib::WriteFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class LoadCredentialSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_.cert = dir_.path() + "/node.pem";
    files_.key = dir_.path() + "/node-key.pem";
    files_.ca = dir_.path() + "/ca.pem";
    pair_ = ca_.IssueServer();
    WriteFile(files_.cert, pair_.cert_pem);
    WriteFile(files_.key, pair_.key_pem);
    WriteFile(files_.ca, ca_.cert_pem());
  }

  void AddCrl(const std::string& crl_pem) {
    files_.crl = dir_.path() + "/crl.pem";
    WriteFile(files_.crl, crl_pem);
  }

  absl::StatusOr<CredentialSet> Load() { return LoadCredentialSet(files_, absl::Now()); }
  std::string Message(const absl::StatusOr<CredentialSet>& set) {
    return std::string(set.status().message());
  }

  TestCa ca_{"Credential CA"};
  ::nodegate::testlib::ScopedTempDir dir_;
  TlsFiles files_;
  pki::PemPair pair_;
};

TEST_F(LoadCredentialSetTest, LoadsAGoodSet) {
  absl::StatusOr<CredentialSet> set = Load();

  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->leaf.serial_hex, SerialOf(pair_.cert_pem));
  EXPECT_EQ(set->cert_chain_pem, pair_.cert_pem);
  EXPECT_EQ(set->key_pem, pair_.key_pem);
  EXPECT_EQ(set->ca_pem, ca_.cert_pem());
  EXPECT_EQ(set->crl_pem, "");
  EXPECT_EQ(set->content_digest.size(), 64u);
}

TEST_F(LoadCredentialSetTest, LoadsAGoodSetWithACrl) {
  AddCrl(ca_.Crl());
  absl::StatusOr<CredentialSet> set = Load();
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->crl_pem, ReadFile(files_.crl));
}

TEST_F(LoadCredentialSetTest, LoadsWithoutACa) {
  files_.ca.clear();
  absl::StatusOr<CredentialSet> set = Load();
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->ca_pem, "");
}

TEST_F(LoadCredentialSetTest, MissingCertNamesTheFieldAndThePath) {
  files_.cert = dir_.path() + "/missing.pem";
  absl::StatusOr<CredentialSet> set = Load();
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(set), StartsWith("tls.cert: " + files_.cert));
}

TEST_F(LoadCredentialSetTest, MissingKeyNamesTheFieldAndThePath) {
  files_.key = dir_.path() + "/missing-key.pem";
  absl::StatusOr<CredentialSet> set = Load();
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(set), StartsWith("tls.key: " + files_.key));
}

TEST_F(LoadCredentialSetTest, MissingCaNamesTheFieldAndThePath) {
  files_.ca = dir_.path() + "/missing-ca.pem";
  absl::StatusOr<CredentialSet> set = Load();
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(set), StartsWith("tls.ca: " + files_.ca));
}

TEST_F(LoadCredentialSetTest, MissingCrlNamesTheFieldAndThePath) {
  files_.crl = dir_.path() + "/missing-crl.pem";
  absl::StatusOr<CredentialSet> set = Load();
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(set), StartsWith("tls.crl: " + files_.crl));
}

TEST_F(LoadCredentialSetTest, CertThatIsNotPemNamesTheFieldAndThePath) {
  WriteFile(files_.cert, "garbage");
  absl::StatusOr<CredentialSet> set = Load();
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(set), StartsWith("tls.cert: " + files_.cert));
}

TEST_F(LoadCredentialSetTest, KeyThatIsNotPemNamesTheFieldWithoutEchoingTheContent) {
  WriteFile(files_.key, "secret-material");
  absl::StatusOr<CredentialSet> set = Load();
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(set), StartsWith("tls.key: " + files_.key));
  EXPECT_THAT(Message(set), ::testing::Not(HasSubstr("secret-material")));
}

TEST_F(LoadCredentialSetTest, RefusesTheKeyOfAnotherCertificate) {
  WriteFile(files_.key, ca_.IssueServer().key_pem);
  absl::StatusOr<CredentialSet> set = Load();
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(set), HasSubstr("tls.key: " + files_.key + ": does not match"));
  EXPECT_THAT(Message(set), HasSubstr(files_.cert));
}

TEST_F(LoadCredentialSetTest, RefusesAnExpiredCertificate) {
  pki::PemPair expired =
      ca_.IssueServer(absl::Now() - absl::Hours(48), absl::Now() - absl::Hours(24));
  WriteFile(files_.cert, expired.cert_pem);
  WriteFile(files_.key, expired.key_pem);

  absl::StatusOr<CredentialSet> set = Load();

  EXPECT_EQ(set.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(set), HasSubstr("tls.cert: " + files_.cert + ": certificate expired "));
}

TEST_F(LoadCredentialSetTest, RefusesACertificateThatExpiresBeforeTheGivenTime) {
  absl::StatusOr<CredentialSet> set =
      LoadCredentialSet(files_, absl::Now() + absl::Hours(24 * 366 * 2));
  EXPECT_EQ(set.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(set), HasSubstr("expired"));
}

TEST_F(LoadCredentialSetTest, RefusesACertificateThatIsNotYetValid) {
  const absl::Time not_before = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 3600);
  pki::PemPair future = ca_.IssueServer(not_before, not_before + absl::Hours(24));
  WriteFile(files_.cert, future.cert_pem);
  WriteFile(files_.key, future.key_pem);

  absl::StatusOr<CredentialSet> set = Load();

  EXPECT_EQ(set.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(set),
              HasSubstr("tls.cert: " + files_.cert + ": certificate not valid before " +
                        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", not_before, absl::UTCTimeZone())));
}

TEST_F(LoadCredentialSetTest, RefusesACertificateFromAnotherCa) {
  TestCa other("Other CA");
  pki::PemPair foreign = other.IssueServer();
  WriteFile(files_.cert, foreign.cert_pem);
  WriteFile(files_.key, foreign.key_pem);

  absl::StatusOr<CredentialSet> set = Load();

  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(set), HasSubstr("tls.cert: " + files_.cert +
                                      ": does not verify against tls.ca " + files_.ca));
}

TEST_F(LoadCredentialSetTest, AcceptsACaBundleThatContainsTheIssuer) {
  TestCa other("Other CA");
  WriteFile(files_.ca, other.cert_pem() + ca_.cert_pem());
  EXPECT_TRUE(Load().ok());
}

TEST_F(LoadCredentialSetTest, RefusesACrlSignedByAnotherCa) {
  TestCa other("Other CA");
  AddCrl(other.Crl());

  absl::StatusOr<CredentialSet> set = Load();

  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(set),
              HasSubstr("tls.crl: " + files_.crl + ": a CRL is not signed by any CA"));
}

TEST_F(LoadCredentialSetTest, RefusesACrlThatOnlyClaimsTheCaAsIssuer) {
  // Same issuer name as our CA, different key: the name alone must not be enough.
  TestCa impostor("Credential CA");
  AddCrl(impostor.Crl());
  absl::StatusOr<CredentialSet> set = Load();
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(set), HasSubstr("not signed by any CA"));
}

TEST_F(LoadCredentialSetTest, RefusesACrlWithoutACa) {
  AddCrl(ca_.Crl());
  files_.ca.clear();
  absl::StatusOr<CredentialSet> set = Load();
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(set), HasSubstr("tls.crl: set, but tls.ca is empty"));
}

TEST_F(LoadCredentialSetTest, EqualFilesGiveEqualDigests) {
  AddCrl(ca_.Crl());
  absl::StatusOr<CredentialSet> a = Load();
  absl::StatusOr<CredentialSet> b = Load();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->content_digest, b->content_digest);
}

TEST_F(LoadCredentialSetTest, DigestChangesWhenCertAndKeyChange) {
  absl::StatusOr<CredentialSet> before = Load();
  ASSERT_TRUE(before.ok()) << before.status();
  pki::PemPair next = ca_.IssueServer();
  WriteFile(files_.cert, next.cert_pem);
  WriteFile(files_.key, next.key_pem);
  absl::StatusOr<CredentialSet> after = Load();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(after->content_digest, before->content_digest);
}

TEST_F(LoadCredentialSetTest, DigestChangesWhenOnlyTheCertFileChanges) {
  // The same certificate, re-written with a trailing comment: bytes differ, meaning does not.
  absl::StatusOr<CredentialSet> before = Load();
  WriteFile(files_.cert, pair_.cert_pem + "# re-issued\n");
  absl::StatusOr<CredentialSet> after = Load();
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_NE(after->content_digest, before->content_digest);
}

TEST_F(LoadCredentialSetTest, DigestChangesWhenOnlyTheKeyFileChanges) {
  absl::StatusOr<CredentialSet> before = Load();
  WriteFile(files_.key, "# rotated\n" + pair_.key_pem);
  absl::StatusOr<CredentialSet> after = Load();
  ASSERT_TRUE(before.ok() && after.ok()) << after.status();
  EXPECT_NE(after->content_digest, before->content_digest);
}

TEST_F(LoadCredentialSetTest, DigestChangesWhenTheCaChanges) {
  absl::StatusOr<CredentialSet> before = Load();
  TestCa other("Other CA");
  WriteFile(files_.ca, ca_.cert_pem() + other.cert_pem());
  absl::StatusOr<CredentialSet> after = Load();
  ASSERT_TRUE(before.ok() && after.ok()) << after.status();
  EXPECT_NE(after->content_digest, before->content_digest);
}

TEST_F(LoadCredentialSetTest, DigestChangesWhenTheCrlChanges) {
  AddCrl(ca_.Crl());
  absl::StatusOr<CredentialSet> before = Load();
  WriteFile(files_.crl, ca_.Crl({"0123ABCD"}));
  absl::StatusOr<CredentialSet> after = Load();
  ASSERT_TRUE(before.ok() && after.ok()) << after.status();
  EXPECT_NE(after->content_digest, before->content_digest);
}

}  // namespace
}  // namespace nodegate::tls
