#include "pki/pki_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "base/files.h"
#include "pki/certificate_info.h"
#include "testlib/files.h"
#include "testlib/temp_dir.h"
#include "testlib/x509_checks.h"

namespace nodegate::pki {
namespace {

using ::nodegate::testlib::CrlLists;
using ::nodegate::testlib::FileMode;
using ::nodegate::testlib::ParseCrl;
using ::nodegate::testlib::ReadFile;
using ::nodegate::testlib::RevokedCount;
using ::nodegate::testlib::VerifyError;
using ::testing::HasSubstr;

IssueOptions ServerOptions() {
  IssueOptions o;
  o.common_name = "server.test";
  o.server = true;
  o.sans = {"server.test"};
  return o;
}

class PkiDirTest : public ::testing::Test {
 protected:
  ::nodegate::testlib::ScopedTempDir root_;
  void SetUp() override {
    dir_ = root_.path() + "/pki";  // Init creates it
  }

  // A PkiDir with its CA already created.
  PkiDir Initialized() {
    PkiDir pki(dir_);
    absl::Status s = pki.Init(CaOptions{}, /*force=*/false);
    EXPECT_TRUE(s.ok()) << s;
    return pki;
  }

  std::string dir_;
};

TEST_F(PkiDirTest, InitWritesALoadableCaWithAPrivateKeyFile) {
  PkiDir pki = Initialized();
  EXPECT_EQ(FileMode(pki.ca_key_path()), 0600);
  EXPECT_EQ(FileMode(pki.ca_cert_path()), 0644);
  auto ca = pki.LoadCa();
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ((*ca)->cert_pem(), ReadFile(pki.ca_cert_path()));
}

TEST_F(PkiDirTest, InitRefusesToOverwriteAnExistingCaWithoutForce) {
  PkiDir pki = Initialized();
  const std::string before = ReadFile(pki.ca_cert_path());

  absl::Status s = pki.Init(CaOptions{}, /*force=*/false);

  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), HasSubstr(pki.ca_cert_path()));
  EXPECT_EQ(ReadFile(pki.ca_cert_path()), before);
}

TEST_F(PkiDirTest, InitWithForceReplacesTheCa) {
  PkiDir pki = Initialized();
  const std::string before = ReadFile(pki.ca_cert_path());

  absl::Status s = pki.Init(CaOptions{}, /*force=*/true);

  ASSERT_TRUE(s.ok()) << s;
  EXPECT_NE(ReadFile(pki.ca_cert_path()), before);
  EXPECT_TRUE(pki.LoadCa().ok());
}

TEST_F(PkiDirTest, IssueWritesAVerifyingCertificateAndAPrivateKey) {
  PkiDir pki = Initialized();

  absl::StatusOr<std::string> cert_path = pki.Issue("server", ServerOptions(), "", false);

  ASSERT_TRUE(cert_path.ok()) << cert_path.status();
  EXPECT_EQ(*cert_path, dir_ + "/server.pem");
  EXPECT_EQ(FileMode(dir_ + "/server-key.pem"), 0600);
  EXPECT_EQ(VerifyError(ReadFile(pki.ca_cert_path()), ReadFile(*cert_path)), X509_V_OK);
}

TEST_F(PkiDirTest, IssueWritesIntoTheRequestedDirectory) {
  PkiDir pki = Initialized();
  const std::string out = root_.path() + "/out/nested";

  absl::StatusOr<std::string> cert_path = pki.Issue("client", ServerOptions(), out, false);

  ASSERT_TRUE(cert_path.ok()) << cert_path.status();
  EXPECT_EQ(*cert_path, out + "/client.pem");
  EXPECT_TRUE(base::FileExists(out + "/client-key.pem"));
}

TEST_F(PkiDirTest, IssueRefusesToOverwriteWithoutForce) {
  PkiDir pki = Initialized();
  ASSERT_TRUE(pki.Issue("server", ServerOptions(), "", false).ok());
  const std::string before = ReadFile(dir_ + "/server.pem");

  absl::StatusOr<std::string> again = pki.Issue("server", ServerOptions(), "", false);

  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(dir_ + "/server.pem"), before);
  EXPECT_TRUE(pki.Issue("server", ServerOptions(), "", /*force=*/true).ok());
  EXPECT_NE(ReadFile(dir_ + "/server.pem"), before);
}

TEST_F(PkiDirTest, IssueRefusesANameThatIsAPath) {
  PkiDir pki = Initialized();
  absl::StatusOr<std::string> issued = pki.Issue("../escape", ServerOptions(), "", false);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("plain file name"));
}

TEST_F(PkiDirTest, IssueWithoutACaNamesTheMissingFile) {
  PkiDir pki(dir_);
  absl::StatusOr<std::string> issued = pki.Issue("server", ServerOptions(), root_.path(), false);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr(pki.ca_cert_path()));
}

TEST_F(PkiDirTest, RevokeRecordsTheSerialAndWritesACrlListingIt) {
  PkiDir pki = Initialized();
  absl::StatusOr<std::string> cert_path = pki.Issue("server", ServerOptions(), "", false);
  ASSERT_TRUE(cert_path.ok()) << cert_path.status();
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(ReadFile(*cert_path), *cert_path);
  ASSERT_TRUE(info.ok()) << info.status();

  absl::StatusOr<std::string> serial = pki.Revoke(*cert_path);

  ASSERT_TRUE(serial.ok()) << serial.status();
  EXPECT_EQ(*serial, info->serial_hex);
  EXPECT_EQ(ReadFile(pki.revoked_path()), info->serial_hex + "\n");
  crypto::X509CrlPtr crl = ParseCrl(ReadFile(pki.crl_path()));
  ASSERT_NE(crl, nullptr);
  EXPECT_TRUE(CrlLists(crl.get(), info->serial_hex));
}

TEST_F(PkiDirTest, RevokeIsIdempotent) {
  PkiDir pki = Initialized();
  absl::StatusOr<std::string> cert_path = pki.Issue("server", ServerOptions(), "", false);
  ASSERT_TRUE(cert_path.ok()) << cert_path.status();
  absl::StatusOr<std::string> first = pki.Revoke(*cert_path);
  ASSERT_TRUE(first.ok()) << first.status();

  absl::StatusOr<std::string> second = pki.Revoke(*cert_path);

  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(ReadFile(pki.revoked_path()), *first + "\n");
  crypto::X509CrlPtr crl = ParseCrl(ReadFile(pki.crl_path()));
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(RevokedCount(crl.get()), 1);
}

TEST_F(PkiDirTest, RevokeKeepsEarlierSerials) {
  PkiDir pki = Initialized();
  auto a = pki.Issue("a", ServerOptions(), "", false);
  auto b = pki.Issue("b", ServerOptions(), "", false);
  ASSERT_TRUE(a.ok() && b.ok());
  auto serial_a = pki.Revoke(*a);
  auto serial_b = pki.Revoke(*b);
  ASSERT_TRUE(serial_a.ok() && serial_b.ok());

  crypto::X509CrlPtr crl = ParseCrl(ReadFile(pki.crl_path()));
  ASSERT_NE(crl, nullptr);
  EXPECT_TRUE(CrlLists(crl.get(), *serial_a));
  EXPECT_TRUE(CrlLists(crl.get(), *serial_b));
}

TEST_F(PkiDirTest, RevokeOfAMissingFileNamesIt) {
  PkiDir pki = Initialized();
  absl::StatusOr<std::string> serial = pki.Revoke(dir_ + "/nope.pem");
  EXPECT_EQ(serial.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(serial.status().message()), HasSubstr(dir_ + "/nope.pem"));
}

TEST_F(PkiDirTest, WriteCrlWithNothingRevokedWritesAnEmptyCrl) {
  PkiDir pki = Initialized();
  ASSERT_TRUE(pki.WriteCrl().ok());
  crypto::X509CrlPtr crl = ParseCrl(ReadFile(pki.crl_path()));
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(RevokedCount(crl.get()), 0);
}

}  // namespace
}  // namespace nodegate::pki
