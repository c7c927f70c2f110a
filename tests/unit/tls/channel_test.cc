#include "tls/channel.h"

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

class NewChannelCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki::PemPair pair = ca_.IssueServer();
    WriteFile(dir_.path() + "/ca.pem", ca_.cert_pem());
    WriteFile(dir_.path() + "/client.pem", pair.cert_pem);
    WriteFile(dir_.path() + "/client-key.pem", pair.key_pem);
    options_.target = "127.0.0.1:1";
    options_.ca_file = dir_.path() + "/ca.pem";
  }

  TestCa ca_{"Channel CA"};
  ::nodegate::testlib::ScopedTempDir dir_;
  ClientTlsOptions options_;
};

TEST_F(NewChannelCredentialsTest, BuildsServerAuthenticatedTls) {
  auto creds = NewChannelCredentials(options_);
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_NE(*creds, nullptr);
}

TEST_F(NewChannelCredentialsTest, BuildsMutualTlsWithCertAndKey) {
  options_.cert_file = dir_.path() + "/client.pem";
  options_.key_file = dir_.path() + "/client-key.pem";
  auto creds = NewChannelCredentials(options_);
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_NE(*creds, nullptr);
}

TEST_F(NewChannelCredentialsTest, RequiresACa) {
  options_.ca_file.clear();
  auto creds = NewChannelCredentials(options_);
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(creds.status().message()), HasSubstr("ca file is required"));
}

TEST_F(NewChannelCredentialsTest, MissingCaFileNamesThePath) {
  options_.ca_file = dir_.path() + "/nope.pem";
  auto creds = NewChannelCredentials(options_);
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(creds.status().message()), HasSubstr("ca: " + options_.ca_file));
}

TEST_F(NewChannelCredentialsTest, RefusesACertWithoutItsKey) {
  options_.cert_file = dir_.path() + "/client.pem";
  auto creds = NewChannelCredentials(options_);
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(creds.status().message()),
              HasSubstr("cert and key must be given together"));
}

TEST_F(NewChannelCredentialsTest, RefusesAKeyWithoutItsCert) {
  options_.key_file = dir_.path() + "/client-key.pem";
  EXPECT_EQ(NewChannelCredentials(options_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NewChannelCredentialsTest, MissingKeyFileNamesThePath) {
  options_.cert_file = dir_.path() + "/client.pem";
  options_.key_file = dir_.path() + "/missing-key.pem";
  auto creds = NewChannelCredentials(options_);
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(creds.status().message()), HasSubstr("key: " + options_.key_file));
}

TEST_F(NewChannelCredentialsTest, NewChannelRefusesAnEmptyTarget) {
  options_.target.clear();
  auto channel = NewChannel(options_);
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(channel.status().message()), HasSubstr("target is empty"));
}

TEST_F(NewChannelCredentialsTest, NewChannelBuildsAChannelWithoutConnecting) {
  auto channel = NewChannel(options_);
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_NE(*channel, nullptr);
}

}  // namespace
}  // namespace nodegate::tls
