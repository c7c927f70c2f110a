#include "tls/server_credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "testlib/files.h"
#include "testlib/pki.h"
#include "testlib/temp_dir.h"

namespace nodegate::tls {
namespace {

using ::nodegate::testlib::TestCa;
using ::nodegate::testlib::WriteFile;
using ::testing::HasSubstr;

TEST(ParseClientAuthTest, ParsesEveryModeItNames) {
  for (ClientAuth mode : {ClientAuth::kRequire, ClientAuth::kRequest, ClientAuth::kNone}) {
    absl::StatusOr<ClientAuth> parsed = ParseClientAuth(ClientAuthName(mode));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, mode);
  }
  EXPECT_EQ(ClientAuthName(ClientAuth::kRequire), "require");
  EXPECT_EQ(ClientAuthName(ClientAuth::kRequest), "request");
  EXPECT_EQ(ClientAuthName(ClientAuth::kNone), "none");
}

TEST(ParseClientAuthTest, RefusesAnUnknownModeAndListsTheValidOnes) {
  absl::StatusOr<ClientAuth> parsed = ParseClientAuth("optional");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()),
              HasSubstr("tls.client_auth: 'optional' is not one of require, request, none"));
}

TEST(ParseClientAuthTest, IsCaseSensitive) {
  EXPECT_FALSE(ParseClientAuth("Require").ok());
  EXPECT_FALSE(ParseClientAuth("").ok());
}

class NewServerCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.files.cert = dir_.path() + "/node.pem";
    options_.files.key = dir_.path() + "/node-key.pem";
    options_.live_dir = dir_.path() + "/live";
    options_.interval = absl::Hours(1);
    pki::PemPair pair = ca_.IssueServer();
    WriteFile(options_.files.cert, pair.cert_pem);
    WriteFile(options_.files.key, pair.key_pem);
  }
  void TearDown() override { reloader_.reset(); }

  CertificateReloader& Start() {
    auto reloader = CertificateReloader::Start(options_);
    EXPECT_TRUE(reloader.ok()) << reloader.status();
    reloader_ = *std::move(reloader);
    return *reloader_;
  }

  TestCa ca_{"Server CA"};
  ::nodegate::testlib::ScopedTempDir dir_;
  CertificateReloader::Options options_;
  std::unique_ptr<CertificateReloader> reloader_;
};

TEST_F(NewServerCredentialsTest, RefusesClientAuthWithoutACa) {
  for (ClientAuth mode : {ClientAuth::kRequire, ClientAuth::kRequest}) {
    auto creds = NewServerCredentials(Start(), mode);
    EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(creds.status().message()), HasSubstr("tls.ca: required"));
  }
}

TEST_F(NewServerCredentialsTest, BuildsServerOnlyTlsWithoutACa) {
  auto creds = NewServerCredentials(Start(), ClientAuth::kNone);
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_NE(*creds, nullptr);
}

TEST_F(NewServerCredentialsTest, BuildsMutualTlsWithACa) {
  options_.files.ca = dir_.path() + "/ca.pem";
  WriteFile(options_.files.ca, ca_.cert_pem());
  auto creds = NewServerCredentials(Start(), ClientAuth::kRequire);
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_NE(*creds, nullptr);
}

}  // namespace
}  // namespace nodegate::tls
