#include "pki/certificate_info.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>

#include "pki/certificate_authority.h"
#include "pki/certificate_check.h"
#include "testlib/x509_checks.h"

namespace nodegate::pki {
namespace {

using ::nodegate::testlib::ParseX509;
using ::nodegate::testlib::SerialHex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::UnorderedElementsAre;

// One CA and one leaf with every kind of SAN, for the inspection tests.
class InspectTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    CaOptions ca_options;
    ca_options.common_name = "Inspect CA";
    absl::StatusOr<PemPair> ca_pair = CertificateAuthority::Create(ca_options);
    ASSERT_TRUE(ca_pair.ok()) << ca_pair.status();
    auto ca = CertificateAuthority::Load(ca_pair->cert_pem, ca_pair->key_pem);
    ASSERT_TRUE(ca.ok()) << ca.status();
    IssueOptions o;
    o.common_name = "node-1";
    o.server = true;
    o.client = true;
    o.sans = {"node-1.example.test", "10.0.0.1", "https://node-1.example.test/"};
    o.node_id = "node-1";
    o.trust_domain = "example.test";
    o.key_type = KeyType::kEd25519;
    o.not_before = absl::FromUnixSeconds(1'700'000'000);
    o.not_after = absl::FromUnixSeconds(1'900'000'000);
    absl::StatusOr<PemPair> leaf = (*ca)->Issue(o);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    ca_pem_ = new std::string(ca_pair->cert_pem);
    leaf_pem_ = new std::string(leaf->cert_pem);
  }

  static std::string* ca_pem_;
  static std::string* leaf_pem_;
};

std::string* InspectTest::ca_pem_ = nullptr;
std::string* InspectTest::leaf_pem_ = nullptr;

TEST_F(InspectTest, ReportsSubjectIssuerAndCommonName) {
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(*leaf_pem_, "leaf.pem");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->subject, "CN=node-1,O=nodegate");  // RFC 2253: most specific first
  EXPECT_EQ(info->issuer, "CN=Inspect CA,O=nodegate");
  EXPECT_EQ(info->common_name, "node-1");
}

TEST_F(InspectTest, ReportsSerialAsUppercaseHexWithoutColons) {
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(*leaf_pem_, "leaf.pem");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->serial_hex, SerialHex(ParseX509(*leaf_pem_).get()));
  EXPECT_THAT(info->serial_hex, MatchesRegex("[0-9A-F]+"));
}

TEST_F(InspectTest, ReportsEverySanInOrderAndTheUrisSeparately) {
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(*leaf_pem_, "leaf.pem");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->sans, ElementsAre("DNS:node-1.example.test", "IP:10.0.0.1",
                                      "URI:https://node-1.example.test/",
                                      "URI:spiffe://example.test/node/node-1"));
  EXPECT_THAT(info->uris,
              ElementsAre("https://node-1.example.test/", "spiffe://example.test/node/node-1"));
}

TEST_F(InspectTest, ReportsValidityKeyTypeAndCaFlag) {
  absl::StatusOr<CertificateInfo> leaf = InspectCertificatePem(*leaf_pem_, "leaf.pem");
  absl::StatusOr<CertificateInfo> ca = InspectCertificatePem(*ca_pem_, "ca.pem");
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(leaf->not_before, absl::FromUnixSeconds(1'700'000'000));
  EXPECT_EQ(leaf->not_after, absl::FromUnixSeconds(1'900'000'000));
  EXPECT_EQ(leaf->key_type, "ed25519");
  EXPECT_EQ(ca->key_type, "ecdsa-p256");
  EXPECT_FALSE(leaf->is_ca);
  EXPECT_TRUE(ca->is_ca);
}

TEST_F(InspectTest, FingerprintIsLowercaseSha256OfTheDer) {
  crypto::X509Ptr cert = ParseX509(*leaf_pem_);
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  ASSERT_GT(len, 0);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(der, static_cast<size_t>(len), md, &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  std::string expected;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < md_len; ++i) {
    expected += kHex[md[i] >> 4];
    expected += kHex[md[i] & 0xf];
  }

  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(*leaf_pem_, "leaf.pem");

  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->sha256_fingerprint, expected);
}

TEST_F(InspectTest, InspectsTheFirstCertificateOfABundle) {
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(*leaf_pem_ + *ca_pem_, "chain.pem");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->common_name, "node-1");
}

TEST(InspectCertificatePemTest, NamesTheSourceWhenThereIsNoCertificate) {
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem("hello", "/etc/x.pem");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("/etc/x.pem"));
}

// --- NodeIdFromCertificate ------------------------------------------------------------------

CertificateInfo InfoWith(std::string cn, std::vector<std::string> uris) {
  CertificateInfo info;
  info.common_name = std::move(cn);
  info.uris = std::move(uris);
  return info;
}

TEST(NodeIdFromCertificateTest, PrefersTheSpiffeUriOfTheTrustDomain) {
  CertificateInfo info =
      InfoWith("cn-name", {"https://example.test/", "spiffe://example.test/node/uri-name"});
  EXPECT_EQ(NodeIdFromCertificate(info, "example.test"), "uri-name");
}

TEST(NodeIdFromCertificateTest, IgnoresSpiffeUrisOfAnotherTrustDomain) {
  CertificateInfo info = InfoWith("cn-name", {"spiffe://other.test/node/uri-name"});
  EXPECT_EQ(NodeIdFromCertificate(info, "example.test"), "cn-name");
}

TEST(NodeIdFromCertificateTest, IgnoresASpiffeUriWithAnEmptyNodeId) {
  CertificateInfo info = InfoWith("cn-name", {"spiffe://example.test/node/"});
  EXPECT_EQ(NodeIdFromCertificate(info, "example.test"), "cn-name");
}

TEST(NodeIdFromCertificateTest, FallsBackToTheCommonName) {
  EXPECT_EQ(NodeIdFromCertificate(InfoWith("cn-name", {}), "example.test"), "cn-name");
}

TEST(NodeIdFromCertificateTest, IsEmptyWhenTheCertificateNamesNoNode) {
  EXPECT_EQ(NodeIdFromCertificate(InfoWith("", {"https://example.test/"}), "example.test"), "");
}

TEST_F(InspectTest, ReportsKeyUsageAndExtendedKeyUsage) {
  CertificateInfo leaf = InspectCertificatePem(*leaf_pem_, "leaf.pem").value();
  CertificateInfo ca = InspectCertificatePem(*ca_pem_, "ca.pem").value();
  EXPECT_THAT(leaf.key_usage, ElementsAre("digitalSignature"));
  EXPECT_THAT(leaf.extended_key_usage, ElementsAre("serverAuth", "clientAuth"));
  EXPECT_THAT(ca.key_usage, ElementsAre("keyCertSign", "cRLSign"));
  EXPECT_TRUE(ca.extended_key_usage.empty());  // absent, not "none allowed"
}

TEST_F(InspectTest, ReportsACrlsNextUpdateAndRevokedSerials) {
  PemPair pair = CertificateAuthority::Create(CaOptions()).value();
  auto authority = CertificateAuthority::Load(pair.cert_pem, pair.key_pem).value();
  std::string crl = authority->MakeCrl({"0A1B", "FF"}, absl::Hours(48)).value();

  CrlInfo info = InspectCrlPem(crl, "crl.pem").value();

  EXPECT_EQ(info.issuer, "CN=nodegate CA,O=nodegate");
  EXPECT_THAT(info.revoked_serials, UnorderedElementsAre("0A1B", "FF"));  // OpenSSL sorts them
  EXPECT_GT(info.next_update, info.last_update + absl::Hours(47));
  EXPECT_LT(info.next_update, info.last_update + absl::Hours(49));
  EXPECT_EQ(InspectCrlPem(*leaf_pem_, "leaf.pem").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CertificateCheckTest, PassesAMatchingKeyAndChainAndNamesEachFailure) {
  PemPair ca_pair = CertificateAuthority::Create(CaOptions()).value();
  PemPair other_pair = CertificateAuthority::Create(CaOptions()).value();
  auto ca = CertificateAuthority::Load(ca_pair.cert_pem, ca_pair.key_pem).value();
  IssueOptions o;
  o.common_name = "n";
  o.client = true;
  o.not_before = absl::FromUnixSeconds(1'700'000'000);
  o.not_after = absl::FromUnixSeconds(1'800'000'000);
  PemPair a = ca->Issue(o).value();
  PemPair b = ca->Issue(o).value();
  auto check = [&](const std::string& key, const std::string& roots, absl::Time now) {
    CertificateCheckInput in{a.cert_pem, "a.pem", roots, "ca.pem", key, "key.pem", now};
    std::vector<std::string> out;
    for (const CertificateCheckResult& r : CheckCertificate(in)) {
      out.push_back(r.what + (r.status.ok() ? "" : ": " + std::string(r.status.message())));
    }
    return out;
  };
  const absl::Time inside = absl::FromUnixSeconds(1'750'000'000);

  EXPECT_THAT(check(a.key_pem, ca_pair.cert_pem, inside),
              ElementsAre("parses", "validity", "key matches", "chains to CA"));
  EXPECT_THAT(check(b.key_pem, ca_pair.cert_pem, inside),
              ElementsAre("parses", "validity",
                          "key matches: key.pem: is not the key of a.pem (its public key differs "
                          "from the certificate's)",
                          "chains to CA"));
  EXPECT_THAT(check("", other_pair.cert_pem, inside),
              ElementsAre("parses", "validity",
                          HasSubstr("chains to CA: a.pem: does not chain to ca.pem: unable to get "
                                    "local issuer certificate")));
  EXPECT_THAT(check("", "", absl::FromUnixSeconds(1'900'000'000)),
              ElementsAre("parses", "validity: a.pem: expired 2027-01-15T08:00:00Z"));
  CertificateCheckInput junk{"not a pem", "junk.pem", "", "", "", "", inside};
  std::vector<CertificateCheckResult> r = CheckCertificate(junk);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].status.ok());
}

TEST(MakeCrlTest, RefusesANonPositiveLifetime) {
  PemPair pair = CertificateAuthority::Create(CaOptions()).value();
  auto ca = CertificateAuthority::Load(pair.cert_pem, pair.key_pem).value();
  EXPECT_EQ(ca->MakeCrl({}, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ca->MakeCrl({}, -absl::Hours(1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kDefaultCrlValidity, absl::Hours(24 * 365));
  std::string crl = ca->MakeCrl({}).value();
  CrlInfo info = InspectCrlPem(crl, "crl.pem").value();
  EXPECT_GE(info.next_update - info.last_update, absl::Hours(24 * 365));
}

}  // namespace
}  // namespace nodegate::pki
