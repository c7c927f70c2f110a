#include "doctor/checks.h"

#include <gtest/gtest.h>

#include "auth/principal.h"
#include "doctor/finding.h"
#include "pki/pem.h"
#include "testlib/pki.h"

namespace nodegate::doctor {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'767'225'600);  // 2026-01-01

crypto::X509Ptr Leaf(const std::string& pem) {
  auto chain = pki::ParseCertificates(pem, "test");
  EXPECT_TRUE(chain.ok()) << chain.status();
  return std::move(chain->front());
}

TEST(CheckListenerNamedTest, ListenIpAmongTheSansIsOk) {
  testlib::TestCa ca;
  crypto::X509Ptr cert = Leaf(ca.IssueServer().cert_pem);  // localhost, 127.0.0.1
  EXPECT_EQ(CheckListenerNamed("grpc.listen", "127.0.0.1:8443", cert.get(), "tls.cert").level,
            Level::kOk);
  EXPECT_EQ(CheckListenerNamed("grpc.listen", "localhost:8443", cert.get(), "tls.cert").level,
            Level::kOk);
}

TEST(CheckListenerNamedTest, MissingHostWarnsWithTheNamesAndTheFix) {
  testlib::TestCa ca;
  crypto::X509Ptr cert = Leaf(ca.IssueServer().cert_pem);
  Finding f = CheckListenerNamed("grpc.listen", "10.0.0.7:8443", cert.get(), "tls.cert");
  EXPECT_EQ(f.level, Level::kWarn);
  EXPECT_NE(f.detail.find("does not name 10.0.0.7"), std::string::npos) << f.detail;
  EXPECT_NE(f.detail.find("localhost"), std::string::npos) << f.detail;
  EXPECT_NE(f.fix.find("--san 10.0.0.7"), std::string::npos) << f.fix;
}

TEST(CheckListenerNamedTest, WildcardListenIsOkAndListsTheNames) {
  testlib::TestCa ca;
  crypto::X509Ptr cert = Leaf(ca.IssueServer().cert_pem);
  Finding f = CheckListenerNamed("grpc.listen", "0.0.0.0:8443", cert.get(), "tls.cert");
  EXPECT_EQ(f.level, Level::kOk);
  EXPECT_NE(f.detail.find("every address"), std::string::npos) << f.detail;
  EXPECT_EQ(CheckListenerNamed("grpc.listen", "nonsense", cert.get(), "tls.cert").level,
            Level::kFail);
}

TEST(CheckExpiryTest, FailsWhenPastWarnsWithinTheWindow) {
  const absl::Duration month = absl::Hours(24 * 30);
  EXPECT_EQ(CheckExpiry("c", kNow + absl::Hours(24 * 90), kNow, month, "fix").level, Level::kOk);
  Finding soon = CheckExpiry("c", kNow + absl::Hours(24 * 10), kNow, month, "fix");
  EXPECT_EQ(soon.level, Level::kWarn);
  EXPECT_NE(soon.detail.find("in 10 days"), std::string::npos) << soon.detail;
  Finding past = CheckExpiry("c", kNow - absl::Hours(24 * 2), kNow, month, "fix");
  EXPECT_EQ(past.level, Level::kFail);
  EXPECT_NE(past.detail.find("2 days ago"), std::string::npos) << past.detail;
  EXPECT_EQ(past.fix, "fix");
}

TEST(CheckCrlNextUpdateTest, PassedIsAFailureAbsentIsFine) {
  const absl::Duration month = absl::Hours(24 * 30);
  EXPECT_EQ(CheckCrlNextUpdate("crl", absl::InfinitePast(), kNow, month).level, Level::kOk);
  EXPECT_EQ(CheckCrlNextUpdate("crl", kNow + absl::Hours(24), kNow, month).level, Level::kWarn);
  Finding passed = CheckCrlNextUpdate("crl", kNow - absl::Hours(1), kNow, month);
  EXPECT_EQ(passed.level, Level::kFail);
  EXPECT_NE(passed.fix.find("nodegate pki crl"), std::string::npos) << passed.fix;
}

TEST(CheckUsageTest, MissingPurposeFailsNoExtensionAllowsAny) {
  pki::CertificateInfo info;
  EXPECT_EQ(CheckUsage("u", info, "clientAuth", "fix").level, Level::kOk);
  info.extended_key_usage = {"serverAuth"};
  Finding f = CheckUsage("u", info, "clientAuth", "reissue with --client");
  EXPECT_EQ(f.level, Level::kFail);
  EXPECT_NE(f.detail.find("without clientAuth"), std::string::npos) << f.detail;
  info.extended_key_usage = {"serverAuth", "clientAuth"};
  EXPECT_EQ(CheckUsage("u", info, "clientAuth", "fix").level, Level::kOk);
}

TEST(CheckReplayCapacityTest, SizedFromRateTimesSkewWithHeadroom) {
  // 1000/s × 60 s = 60,000 held; 1.25× = 75,000 wanted.
  EXPECT_EQ(CheckReplayCapacity(100000, absl::Seconds(60), 1000).level, Level::kOk);
  Finding small = CheckReplayCapacity(70000, absl::Seconds(60), 1000);
  EXPECT_EQ(small.level, Level::kWarn);
  EXPECT_NE(small.fix.find("replay_cache_capacity = 75000"), std::string::npos) << small.fix;
}

TEST(CheckRulesTest, TyposAreNamedWithTheNearestMethod) {
  const std::vector<std::string> served = {"/api.DiceService/RollDie", "/nodegate.v1.KeyValue/Get"};
  auth::Rule typo{"/api.DiceService/RollDice", false, 0, {}, "config"};
  auth::Rule service{"/nodegate.v1.KeyValu/*", false, 0, {}, "config"};
  auth::Rule good{"/nodegate.v1.KeyValue/*", false, 0, {"ops"}, "config"};
  auth::Rule unreachable{"/api.DiceService/RollDie", false, auth::kToken, {}, "config"};
  std::vector<Finding> f =
      CheckRules({typo, service, good, unreachable}, served, auth::kMtls | auth::kSignature);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].level, Level::kWarn);
  EXPECT_NE(f[0].detail.find("did you mean /api.DiceService/RollDie?"), std::string::npos)
      << f[0].detail;
  EXPECT_EQ(f[1].level, Level::kWarn);
  EXPECT_NE(f[1].detail.find("nodegate.v1.KeyValue"), std::string::npos) << f[1].detail;
  EXPECT_EQ(f[2].level, Level::kOk);
  EXPECT_EQ(f[3].level, Level::kWarn);
  EXPECT_NE(f[3].detail.find("every call to it is refused"), std::string::npos) << f[3].detail;
}

TEST(CheckNginxUnderscoresTest, WarnsOnlyForAFileThatProxiesHereWithoutIt) {
  const std::string direct =
      "server {\n  listen 9443 ssl http2;\n"
      "  location / { grpc_pass grpc://127.0.0.1:9444; }\n}\n";
  const std::string upstream =
      "upstream nodes { server 127.0.0.1:9444; server 127.0.0.1:9445; }\n"
      "server { location / { grpc_pass grpcs://nodes; } }\n";
  const std::string elsewhere = "server { location / { grpc_pass grpc://127.0.0.1:7000; } }\n";
  const std::string commented = "# underscores_in_headers on;\n" + direct;
  EXPECT_EQ(CheckNginxUnderscores({{"a.conf", direct}}, {9444}).size(), 1u);
  EXPECT_EQ(CheckNginxUnderscores({{"u.conf", upstream}}, {9445}).size(), 1u);
  EXPECT_TRUE(CheckNginxUnderscores({{"e.conf", elsewhere}}, {9444}).empty());
  EXPECT_EQ(CheckNginxUnderscores({{"c.conf", commented}}, {9444}).size(), 1u);
  EXPECT_TRUE(
      CheckNginxUnderscores(
          {{"nginx.conf", "http { underscores_in_headers on; }"}, {"a.conf", direct}}, {9444})
          .empty());
}

TEST(CheckClockSkewTest, LevelsFollowTheSkewAndWhetherCallsAreSigned) {
  const absl::Duration rtt = absl::Milliseconds(2);
  EXPECT_EQ(CheckClockSkew("p", absl::Milliseconds(300), rtt, true).level, Level::kOk);
  Finding ahead = CheckClockSkew("p", absl::Seconds(5), rtt, true);
  EXPECT_EQ(ahead.level, Level::kWarn);
  EXPECT_NE(ahead.detail.find("ahead of"), std::string::npos) << ahead.detail;
  EXPECT_EQ(CheckClockSkew("p", -absl::Seconds(45), rtt, true).level, Level::kFail);
  EXPECT_EQ(CheckClockSkew("p", -absl::Seconds(45), rtt, false).level, Level::kWarn);
}

TEST(RenderTest, TextHasTheFixUnderAProblemAndTheCounts) {
  std::vector<Finding> f = {{"a", Level::kOk, "fine", ""}, {"b", Level::kFail, "broken", "mend"}};
  EXPECT_EQ(RenderText(f),
            "ok    a: fine\nfail  b: broken\n      fix: mend\n1 ok, 0 warn, 1 fail\n");
  EXPECT_EQ(Worst(f), Level::kFail);
  EXPECT_NE(RenderJson(f).find("\"fail\": 1"), std::string::npos);
}

}  // namespace
}  // namespace nodegate::doctor
