#include "pki/certificate_authority.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"
#include "testlib/x509_checks.h"

namespace nodegate::pki {
namespace {

using ::nodegate::testlib::CrlLists;
using ::nodegate::testlib::ParseCrl;
using ::nodegate::testlib::ParseKey;
using ::nodegate::testlib::ParseX509;
using ::nodegate::testlib::RevokedCount;
using ::nodegate::testlib::SerialHex;
using ::nodegate::testlib::VerifyError;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// RSA-3072 key generation takes a good fraction of a second: make each kind of CA once.
const PemPair& SharedCa(KeyType type) {
  static auto* cas = new std::map<KeyType, PemPair>();
  auto it = cas->find(type);
  if (it == cas->end()) {
    CaOptions options;
    options.key_type = type;
    options.common_name = absl::StrCat("test CA ", std::string(KeyTypeName(type)));
    absl::StatusOr<PemPair> ca = CertificateAuthority::Create(options);
    EXPECT_TRUE(ca.ok()) << ca.status();
    it = cas->emplace(type, ca.ok() ? *ca : PemPair{}).first;
  }
  return it->second;
}

std::unique_ptr<CertificateAuthority> LoadShared(KeyType type) {
  const PemPair& pair = SharedCa(type);
  auto ca = CertificateAuthority::Load(pair.cert_pem, pair.key_pem);
  EXPECT_TRUE(ca.ok()) << ca.status();
  return ca.ok() ? *std::move(ca) : nullptr;
}

IssueOptions ServerOptions() {
  IssueOptions o;
  o.common_name = "server.test";
  o.server = true;
  o.sans = {"server.test", "127.0.0.1", "::1"};
  return o;
}

IssueOptions ClientOptions(const std::string& node_id) {
  IssueOptions o;
  o.common_name = node_id;
  o.client = true;
  o.node_id = node_id;
  o.trust_domain = "example.test";
  return o;
}

uint32_t ExtendedKeyUsage(X509* cert) { return X509_get_extended_key_usage(cert); }

// --- CA creation, for every key type --------------------------------------------------------

class CaPerKeyTypeTest : public ::testing::TestWithParam<KeyType> {};

INSTANTIATE_TEST_SUITE_P(AllKeyTypes, CaPerKeyTypeTest,
                         ::testing::Values(KeyType::kEcdsaP256, KeyType::kEd25519,
                                           KeyType::kRsa3072),
                         [](const auto& info) {
                           std::string name(KeyTypeName(info.param));
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST_P(CaPerKeyTypeTest, CreatesACaCertificate) {
  crypto::X509Ptr cert = ParseX509(SharedCa(GetParam()).cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_ca(cert.get()), 1);  // basicConstraints CA:TRUE
  EXPECT_TRUE(X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(X509_get_key_usage(cert.get()) & KU_CRL_SIGN);
}

TEST_P(CaPerKeyTypeTest, CaCertificateIsSelfSignedAndVerifies) {
  const PemPair& ca = SharedCa(GetParam());
  crypto::X509Ptr cert = ParseX509(ca.cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())), 0);
  EXPECT_EQ(X509_verify(cert.get(), X509_get0_pubkey(cert.get())), 1);
  EXPECT_EQ(VerifyError(ca.cert_pem, ca.cert_pem), X509_V_OK);
}

TEST_P(CaPerKeyTypeTest, CaKeyIsOfTheRequestedTypeAndMatchesTheCertificate) {
  const PemPair& ca = SharedCa(GetParam());
  crypto::X509Ptr cert = ParseX509(ca.cert_pem);
  crypto::EvpPkeyPtr key = ParseKey(ca.key_pem);
  ASSERT_NE(cert, nullptr);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(DescribeKey(key.get()), KeyTypeName(GetParam()));
  EXPECT_THAT(ca.key_pem, ::testing::StartsWith("-----BEGIN PRIVATE KEY-----"));  // PKCS#8
}

TEST_P(CaPerKeyTypeTest, IssuesAServerCertificateThatVerifiesAgainstTheCa) {
  std::unique_ptr<CertificateAuthority> ca = LoadShared(GetParam());
  ASSERT_NE(ca, nullptr);
  absl::StatusOr<PemPair> issued = ca->Issue(ServerOptions());
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(VerifyError(ca->cert_pem(), issued->cert_pem, X509_PURPOSE_SSL_SERVER), X509_V_OK);
}

// --- Issued certificates ----------------------------------------------------------------------

class IssueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = LoadShared(KeyType::kEcdsaP256);
    ASSERT_NE(ca_, nullptr);
  }
  std::unique_ptr<CertificateAuthority> ca_;
};

TEST_F(IssueTest, ServerCertificateHasDnsAndIpSansAndServerAuthOnly) {
  absl::StatusOr<PemPair> issued = ca_->Issue(ServerOptions());
  ASSERT_TRUE(issued.ok()) << issued.status();
  crypto::X509Ptr cert = ParseX509(issued->cert_pem);
  ASSERT_NE(cert, nullptr);

  EXPECT_EQ(X509_check_host(cert.get(), "server.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "other.test", 0, 0, nullptr), 0);
  EXPECT_TRUE(ExtendedKeyUsage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_FALSE(ExtendedKeyUsage(cert.get()) & XKU_SSL_CLIENT);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(VerifyError(ca_->cert_pem(), issued->cert_pem, X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST_F(IssueTest, ClientCertificateNamesTheNodeInCnAndSpiffeUri) {
  absl::StatusOr<PemPair> issued = ca_->Issue(ClientOptions("node-7"));
  ASSERT_TRUE(issued.ok()) << issued.status();
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(issued->cert_pem, "client");
  ASSERT_TRUE(info.ok()) << info.status();

  EXPECT_EQ(info->common_name, "node-7");
  EXPECT_THAT(info->uris, Contains("spiffe://example.test/node/node-7"));
  crypto::X509Ptr cert = ParseX509(issued->cert_pem);
  EXPECT_TRUE(ExtendedKeyUsage(cert.get()) & XKU_SSL_CLIENT);
  EXPECT_FALSE(ExtendedKeyUsage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_EQ(VerifyError(ca_->cert_pem(), issued->cert_pem, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(IssueTest, CertificateForBothRolesHasBothExtendedKeyUsages) {
  IssueOptions o = ServerOptions();
  o.client = true;
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  ASSERT_TRUE(issued.ok()) << issued.status();
  crypto::X509Ptr cert = ParseX509(issued->cert_pem);
  EXPECT_TRUE(ExtendedKeyUsage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_TRUE(ExtendedKeyUsage(cert.get()) & XKU_SSL_CLIENT);
}

TEST_F(IssueTest, IssuedKeyMatchesTheCertificate) {
  absl::StatusOr<PemPair> issued = ca_->Issue(ServerOptions());
  ASSERT_TRUE(issued.ok()) << issued.status();
  crypto::X509Ptr cert = ParseX509(issued->cert_pem);
  crypto::EvpPkeyPtr key = ParseKey(issued->key_pem);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

TEST_F(IssueTest, IssuesTheRequestedSubjectKeyType) {
  IssueOptions o = ServerOptions();
  o.key_type = KeyType::kEd25519;
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  ASSERT_TRUE(issued.ok()) << issued.status();
  crypto::EvpPkeyPtr key = ParseKey(issued->key_pem);
  EXPECT_EQ(DescribeKey(key.get()), "ed25519");
}

TEST_F(IssueTest, SerialsAreRandomPositiveAndAbout128Bits) {
  std::set<std::string> serials;
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<PemPair> issued = ca_->Issue(ServerOptions());
    ASSERT_TRUE(issued.ok()) << issued.status();
    crypto::X509Ptr cert = ParseX509(issued->cert_pem);
    crypto::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
    EXPECT_FALSE(BN_is_negative(bn.get()));
    EXPECT_FALSE(BN_is_zero(bn.get()));
    // 16 random bytes with the top bit cleared and the top byte non-zero: 121..127 bits.
    EXPECT_GE(BN_num_bits(bn.get()), 121);
    EXPECT_LE(BN_num_bits(bn.get()), 127);
    serials.insert(SerialHex(cert.get()));
  }
  EXPECT_EQ(serials.size(), 8u);
}

TEST_F(IssueTest, HonoursExplicitValidity) {
  IssueOptions o = ServerOptions();
  o.not_before = absl::FromUnixSeconds(1'700'000'000);
  o.not_after = absl::FromUnixSeconds(1'800'000'000);
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  ASSERT_TRUE(issued.ok()) << issued.status();
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(issued->cert_pem, "server");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->not_before, o.not_before);
  EXPECT_EQ(info->not_after, o.not_after);
}

TEST_F(IssueTest, DefaultValidityStartsFiveMinutesAgoAndLastsTheGivenDuration) {
  IssueOptions o = ServerOptions();
  o.validity = absl::Hours(48);
  const absl::Time before = absl::Now();
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  const absl::Time after = absl::Now();
  ASSERT_TRUE(issued.ok()) << issued.status();
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(issued->cert_pem, "server");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_GE(info->not_before,
            absl::FromUnixSeconds(absl::ToUnixSeconds(before)) - absl::Minutes(5));
  EXPECT_LE(info->not_before, after - absl::Minutes(5));
  EXPECT_EQ(info->not_after - info->not_before, absl::Hours(48));
}

TEST_F(IssueTest, CanIssueAnExpiredCertificateWhichThenFailsVerification) {
  IssueOptions o = ServerOptions();
  o.not_before = absl::Now() - absl::Hours(48);
  o.not_after = absl::Now() - absl::Hours(24);
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(VerifyError(ca_->cert_pem(), issued->cert_pem), X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(IssueTest, AcceptsANodeIdOf128Characters) {
  IssueOptions o = ClientOptions(std::string(128, 'n'));
  o.common_name = "long-node";  // a CN holds at most 64 characters; the URI SAN has no limit
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  ASSERT_TRUE(issued.ok()) << issued.status();
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(issued->cert_pem, "client");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(NodeIdFromCertificate(*info, "example.test"), std::string(128, 'n'));
}

// --- Refused inputs ---------------------------------------------------------------------------

TEST_F(IssueTest, RefusesAnEmptyCommonName) {
  IssueOptions o = ServerOptions();
  o.common_name = "";
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("common name is empty"));
}

TEST_F(IssueTest, RefusesACommonNameLongerThan64Characters) {
  IssueOptions o = ServerOptions();
  o.common_name = std::string(65, 'c');
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()),
              HasSubstr("common name is 65 characters; at most 64"));
}

TEST_F(IssueTest, AcceptsACommonNameOf64Characters) {
  IssueOptions o = ServerOptions();
  o.common_name = std::string(64, 'c');
  EXPECT_TRUE(ca_->Issue(o).ok());
}

TEST_F(IssueTest, RefusesACertificateForNeitherServerNorClient) {
  IssueOptions o = ServerOptions();
  o.server = false;
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("server, a client, or both"));
}

TEST_F(IssueTest, RefusesANodeIdWithASpace) {
  absl::StatusOr<PemPair> issued = ca_->Issue(ClientOptions("a b"));
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("node id 'a b'"));
}

TEST_F(IssueTest, RefusesANodeIdOf129Characters) {
  IssueOptions o = ClientOptions(std::string(129, 'n'));
  o.common_name = "long-node";
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("[A-Za-z0-9._-]{1,128}"));
}

TEST_F(IssueTest, RefusesNotAfterEqualToNotBefore) {
  IssueOptions o = ServerOptions();
  o.not_before = absl::FromUnixSeconds(1'700'000'000);
  o.not_after = o.not_before;
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("not_after must be later"));
}

TEST_F(IssueTest, RefusesNotAfterBeforeNotBefore) {
  IssueOptions o = ServerOptions();
  o.not_before = absl::FromUnixSeconds(1'700'000'000);
  o.not_after = o.not_before - absl::Seconds(1);
  EXPECT_EQ(ca_->Issue(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(IssueTest, RefusesASanContainingASeparator) {
  IssueOptions o = ServerOptions();
  o.sans = {"a.test,DNS:evil.test"};
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("separator"));
}

TEST_F(IssueTest, RefusesAnUnknownKeyType) {
  IssueOptions o = ServerOptions();
  o.key_type = static_cast<KeyType>(99);
  absl::StatusOr<PemPair> issued = ca_->Issue(o);
  EXPECT_FALSE(issued.ok());
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("generating a unknown key"));
}

TEST(KeyTypeTest, ParsesEveryNameItPrints) {
  for (KeyType t : {KeyType::kEcdsaP256, KeyType::kEd25519, KeyType::kRsa3072}) {
    absl::StatusOr<KeyType> parsed = ParseKeyType(KeyTypeName(t));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, t);
  }
}

TEST(KeyTypeTest, RefusesAnUnknownNameAndListsTheValidOnes) {
  absl::StatusOr<KeyType> parsed = ParseKeyType("dsa-1024");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()),
              HasSubstr("unknown key type 'dsa-1024'; valid: ecdsa-p256, ed25519, rsa-3072"));
}

TEST(CreateCaTest, RefusesAnEmptyCommonName) {
  CaOptions o;
  o.common_name = "";
  absl::StatusOr<PemPair> ca = CertificateAuthority::Create(o);
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ca.status().message()), HasSubstr("CA common name is empty"));
}

// --- Load ------------------------------------------------------------------------------------

TEST(LoadCaTest, RefusesACertificateThatIsNotACa) {
  std::unique_ptr<CertificateAuthority> ca = LoadShared(KeyType::kEcdsaP256);
  ASSERT_NE(ca, nullptr);
  absl::StatusOr<PemPair> leaf = ca->Issue(ServerOptions());
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  auto loaded = CertificateAuthority::Load(leaf->cert_pem, leaf->key_pem);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("not a CA"));
}

TEST(LoadCaTest, RefusesAKeyThatDoesNotMatchTheCertificate) {
  const PemPair& ecdsa = SharedCa(KeyType::kEcdsaP256);
  const PemPair& ed25519 = SharedCa(KeyType::kEd25519);
  auto loaded = CertificateAuthority::Load(ecdsa.cert_pem, ed25519.key_pem);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("does not match"));
}

TEST(LoadCaTest, RefusesGarbageAndNamesWhatItWasReading) {
  auto loaded = CertificateAuthority::Load("not a pem", SharedCa(KeyType::kEcdsaP256).key_pem);
  EXPECT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("CA certificate"));
}

// --- SignCsr ---------------------------------------------------------------------------------

// A CSR for a fresh Ed25519 key with subject CN=`cn` and a requested SAN, signed by that key.
struct Csr {
  std::string pem;
  crypto::EvpPkeyPtr key;
};

Csr MakeCsr(const std::string& cn) {
  Csr out;
  absl::StatusOr<crypto::EvpPkeyPtr> key = GenerateKey(KeyType::kEd25519);
  EXPECT_TRUE(key.ok()) << key.status();
  out.key = *std::move(key);
  crypto::X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), out.key.get());
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(
      exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, "DNS:requested.evil.test"));
  X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  EXPECT_GT(X509_REQ_sign(req.get(), out.key.get(), nullptr), 0);
  absl::StatusOr<std::string> pem = CsrToPem(req.get());
  EXPECT_TRUE(pem.ok()) << pem.status();
  out.pem = pem.ok() ? *pem : "";
  return out;
}

// The same CSR with the last byte of its DER (inside the Ed25519 signature) flipped.
std::string WithFlippedSignatureByte(const std::string& csr_pem) {
  absl::StatusOr<crypto::X509ReqPtr> req = ParseCsr(csr_pem, "test CSR");
  EXPECT_TRUE(req.ok()) << req.status();
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req->get(), &der);
  EXPECT_GT(len, 0);
  der[len - 1] ^= 0x01;
  const unsigned char* p = der;
  crypto::X509ReqPtr broken(d2i_X509_REQ(nullptr, &p, len));
  OPENSSL_free(der);
  EXPECT_NE(broken, nullptr);
  absl::StatusOr<std::string> pem = CsrToPem(broken.get());
  return pem.ok() ? *pem : "";
}

TEST_F(IssueTest, SignsAValidCsrForTheRequestersKey) {
  Csr csr = MakeCsr("node-9");
  absl::StatusOr<std::string> cert_pem = ca_->SignCsr(csr.pem, ClientOptions("node-9"));
  ASSERT_TRUE(cert_pem.ok()) << cert_pem.status();
  crypto::X509Ptr cert = ParseX509(*cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), csr.key.get()), 1);
  EXPECT_EQ(VerifyError(ca_->cert_pem(), *cert_pem, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(IssueTest, SignCsrTakesTheIdentityFromOptionsNotFromTheCsr) {
  Csr csr = MakeCsr("admin");
  absl::StatusOr<std::string> cert_pem = ca_->SignCsr(csr.pem, ClientOptions("node-9"));
  ASSERT_TRUE(cert_pem.ok()) << cert_pem.status();
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(*cert_pem, "signed");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->common_name, "node-9");
  EXPECT_THAT(info->subject, Not(HasSubstr("admin")));
  EXPECT_THAT(info->sans, Not(Contains("DNS:requested.evil.test")));
  EXPECT_THAT(info->uris, Contains("spiffe://example.test/node/node-9"));
}

TEST_F(IssueTest, SignCsrRefusesACsrWithABrokenSignature) {
  std::string broken = WithFlippedSignatureByte(MakeCsr("node-9").pem);
  absl::StatusOr<std::string> cert_pem = ca_->SignCsr(broken, ClientOptions("node-9"));
  EXPECT_EQ(cert_pem.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cert_pem.status().message()), HasSubstr("signature does not verify"));
}

TEST_F(IssueTest, SignCsrRefusesSomethingThatIsNotACsr) {
  absl::StatusOr<std::string> cert_pem = ca_->SignCsr("garbage", ClientOptions("node-9"));
  EXPECT_EQ(cert_pem.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cert_pem.status().message()),
              HasSubstr("CSR: not a PEM certificate request"));
}

TEST_F(IssueTest, SignCsrAppliesTheSameChecksAsIssue) {
  IssueOptions o = ClientOptions("a b");
  EXPECT_EQ(ca_->SignCsr(MakeCsr("x").pem, o).status().code(), absl::StatusCode::kInvalidArgument);
}

// --- MakeCrl ---------------------------------------------------------------------------------

TEST_F(IssueTest, CrlListsExactlyTheGivenSerials) {
  std::vector<std::string> serials;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<PemPair> issued = ca_->Issue(ServerOptions());
    ASSERT_TRUE(issued.ok()) << issued.status();
    serials.push_back(SerialHex(ParseX509(issued->cert_pem).get()));
  }
  absl::StatusOr<std::string> crl_pem = ca_->MakeCrl({serials[0], serials[2]});
  ASSERT_TRUE(crl_pem.ok()) << crl_pem.status();

  crypto::X509CrlPtr crl = ParseCrl(*crl_pem);
  ASSERT_NE(crl, nullptr);
  EXPECT_TRUE(CrlLists(crl.get(), serials[0]));
  EXPECT_FALSE(CrlLists(crl.get(), serials[1]));
  EXPECT_TRUE(CrlLists(crl.get(), serials[2]));
  EXPECT_EQ(RevokedCount(crl.get()), 2);
}

TEST_F(IssueTest, CrlIsAV2CrlSignedByTheCa) {
  absl::StatusOr<std::string> crl_pem = ca_->MakeCrl({}, absl::Hours(2));
  ASSERT_TRUE(crl_pem.ok()) << crl_pem.status();
  crypto::X509CrlPtr crl = ParseCrl(*crl_pem);
  crypto::X509Ptr ca_cert = ParseX509(ca_->cert_pem());
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(X509_CRL_get_version(crl.get()), X509_CRL_VERSION_2);
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca_cert.get())), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca_cert.get())), 0);
  absl::StatusOr<absl::Time> next = Asn1TimeToAbsl(X509_CRL_get0_nextUpdate(crl.get()));
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, absl::Now() + absl::Minutes(110));
  EXPECT_LT(*next, absl::Now() + absl::Minutes(130));
}

TEST_F(IssueTest, CrlRefusesASerialThatIsNotHex) {
  absl::StatusOr<std::string> crl = ca_->MakeCrl({"not-hex"});
  EXPECT_EQ(crl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(crl.status().message()),
              HasSubstr("revoked serial 'not-hex' is not hex"));
}

TEST_F(IssueTest, CrlRefusesASerialWithTrailingNonHexCharacters) {
  // BN_hex2bn stops at the first non-hex character; "12XY" must not silently revoke serial 0x12.
  absl::StatusOr<std::string> crl = ca_->MakeCrl({"12XY"});
  EXPECT_EQ(crl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(crl.status().message()), HasSubstr("'12XY' is not hex"));
}

TEST_F(IssueTest, CrlRefusesAnEmptySerial) {
  EXPECT_EQ(ca_->MakeCrl({""}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nodegate::pki
