#include "pki/pem.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "pki/certificate_authority.h"
#include "testlib/x509_checks.h"

namespace nodegate::pki {
namespace {

using ::testing::HasSubstr;

class PemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<PemPair> ca = CertificateAuthority::Create(CaOptions{});
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
  }
  PemPair ca_;
};

TEST_F(PemTest, ParsesEveryCertificateOfABundleInOrder) {
  absl::StatusOr<PemPair> other = CertificateAuthority::Create(CaOptions{.common_name = "other"});
  ASSERT_TRUE(other.ok()) << other.status();

  auto certs = ParseCertificates(ca_.cert_pem + other->cert_pem, "bundle.pem");

  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ(X509_cmp((*certs)[0].get(), ::nodegate::testlib::ParseX509(ca_.cert_pem).get()), 0);
  EXPECT_EQ(X509_cmp((*certs)[1].get(), ::nodegate::testlib::ParseX509(other->cert_pem).get()), 0);
}

TEST_F(PemTest, IgnoresTextAroundThePemBlocks) {
  auto certs = ParseCertificates("# a comment\n" + ca_.cert_pem + "trailing text\n", "c.pem");
  ASSERT_TRUE(certs.ok()) << certs.status();
  EXPECT_EQ(certs->size(), 1u);
}

TEST_F(PemTest, RefusesGarbageAndNamesTheSource) {
  auto certs = ParseCertificates("this is not a certificate", "/etc/nodegate/node.pem");
  EXPECT_EQ(certs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(certs.status().message()),
              HasSubstr("/etc/nodegate/node.pem: no PEM certificate found"));
}

TEST_F(PemTest, RefusesAnEmptyInputAndNamesTheSource) {
  auto certs = ParseCertificates("", "empty.pem");
  EXPECT_EQ(certs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(certs.status().message()), HasSubstr("empty.pem"));
}

TEST_F(PemTest, RefusesABundleWhoseSecondCertificateIsCorrupt) {
  const std::string corrupt =
      "-----BEGIN CERTIFICATE-----\nAAAAAAAAAAAAAAAA\n-----END CERTIFICATE-----\n";
  auto certs = ParseCertificates(ca_.cert_pem + corrupt, "bundle.pem");
  EXPECT_EQ(certs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(certs.status().message()),
              HasSubstr("bundle.pem: certificate 2 does not parse"));
}

TEST_F(PemTest, RefusesAKeyInPlaceOfACertificate) {
  auto certs = ParseCertificates(ca_.key_pem, "key-as-cert.pem");
  EXPECT_FALSE(certs.ok());
  EXPECT_THAT(std::string(certs.status().message()), HasSubstr("key-as-cert.pem"));
}

TEST_F(PemTest, PrivateKeyErrorsNameTheSourceButNotTheContent) {
  const std::string not_a_key =
      "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n";
  auto key = ParsePrivateKey(not_a_key, "node-key.pem");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()),
              HasSubstr("node-key.pem: not a PEM private key"));
  EXPECT_THAT(std::string(key.status().message()), ::testing::Not(HasSubstr("c2VjcmV0")));
}

TEST_F(PemTest, CrlErrorsNameTheSource) {
  auto crls = ParseCrls("nothing", "crl.pem");
  EXPECT_EQ(crls.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(crls.status().message()), HasSubstr("crl.pem: no PEM CRL found"));
}

TEST_F(PemTest, CertificateRoundTripsThroughPem) {
  auto certs = ParseCertificates(ca_.cert_pem, "ca.pem");
  ASSERT_TRUE(certs.ok()) << certs.status();
  absl::StatusOr<std::string> pem = CertificateToPem(certs->front().get());
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_EQ(*pem, ca_.cert_pem);
}

}  // namespace
}  // namespace nodegate::pki
