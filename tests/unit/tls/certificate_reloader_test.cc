#include "tls/certificate_reloader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "pki/pem.h"
#include "test_util.h"

namespace nodegate::tls {
namespace {

namespace fs = std::filesystem;

using ::nodegate::tls::testing::FileMode;
using ::nodegate::tls::testing::NewTempDir;
using ::nodegate::tls::testing::ReadAll;
using ::nodegate::tls::testing::SerialOf;
using ::nodegate::tls::testing::TestCa;
using ::nodegate::tls::testing::WriteFile;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Long enough that the background thread never looks at the files during a test: CheckNow() is
// then the only thing that reloads, and every counter is exact.
constexpr absl::Duration kNeverPoll = absl::Hours(1);

class CertificateReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir();
    options_.files.cert = dir_ + "/node.pem";
    options_.files.key = dir_ + "/node-key.pem";
    options_.files.ca = dir_ + "/ca.pem";
    options_.live_dir = dir_ + "/live";
    options_.interval = kNeverPoll;
    options_.poll = kNeverPoll;
    pair_ = ca_.Issue();
    WriteFile(options_.files.cert, pair_.cert_pem);
    WriteFile(options_.files.key, pair_.key_pem);
    WriteFile(options_.files.ca, ca_.cert_pem());
  }
  void TearDown() override {
    reloader_.reset();  // joins the thread before the files go
    fs::remove_all(dir_);
  }

  void UseCrl(const std::string& crl_pem) {
    options_.files.crl = dir_ + "/crl.pem";
    WriteFile(options_.files.crl, crl_pem);
  }

  void StartReloader() {
    auto reloader = CertificateReloader::Start(options_);
    ASSERT_TRUE(reloader.ok()) << reloader.status();
    reloader_ = *std::move(reloader);
  }

  // Replaces cert and key with a new valid pair; returns it.
  pki::PemPair Rotate() {
    pki::PemPair next = ca_.Issue();
    WriteFile(options_.files.key, next.key_pem);
    WriteFile(options_.files.cert, next.cert_pem);
    return next;
  }

  std::string CurrentGeneration() const {
    return fs::read_symlink(options_.live_dir + "/current").string();
  }

  std::vector<std::string> CrlFiles() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(reloader_->crl_dir())) {
      names.push_back(e.path().filename().string());
    }
    return names;
  }

  TestCa ca_{"Reload CA"};
  std::string dir_;
  CertificateReloader::Options options_;
  pki::PemPair pair_;
  std::unique_ptr<CertificateReloader> reloader_;
};

// --- Start -----------------------------------------------------------------------------------

TEST_F(CertificateReloaderTest, StartRefusesAnIntervalBelowOneSecond) {
  options_.interval = absl::Milliseconds(999);
  auto reloader = CertificateReloader::Start(options_);
  EXPECT_EQ(reloader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reloader.status().message()),
              HasSubstr("tls.reload_interval: must be in 1s..24h"));
}

TEST_F(CertificateReloaderTest, StartRefusesAnInvalidSet) {
  WriteFile(options_.files.key, ca_.Issue().key_pem);
  auto reloader = CertificateReloader::Start(options_);
  EXPECT_EQ(reloader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reloader.status().message()), HasSubstr("does not match"));
}

TEST_F(CertificateReloaderTest, StartPublishesTheSourceFilesThroughTheCurrentSymlink) {
  StartReloader();

  EXPECT_TRUE(fs::is_symlink(options_.live_dir + "/current"));
  EXPECT_EQ(reloader_->cert_path(), options_.live_dir + "/current/cert.pem");
  EXPECT_EQ(ReadAll(reloader_->cert_path()), pair_.cert_pem);
  EXPECT_EQ(ReadAll(reloader_->key_path()), pair_.key_pem);
  EXPECT_THAT(ReadAll(reloader_->ca_path()), StartsWith("# nodegate live generation "));
  EXPECT_THAT(ReadAll(reloader_->ca_path()), EndsWith(ca_.cert_pem()));
  EXPECT_EQ(reloader_->current()->leaf.serial_hex, SerialOf(pair_.cert_pem));
}

TEST_F(CertificateReloaderTest, StartKeepsTheLiveKeyPrivate) {
  StartReloader();
  EXPECT_EQ(FileMode(reloader_->key_path()), 0600);
  EXPECT_EQ(FileMode(options_.live_dir), 0700);
}

TEST_F(CertificateReloaderTest, StartReportsWhatIsConfigured) {
  options_.interval = absl::Seconds(7);
  StartReloader();
  EXPECT_TRUE(reloader_->has_ca());
  EXPECT_FALSE(reloader_->has_crl());
  EXPECT_EQ(reloader_->refresh_interval_sec(), 7u);
  EXPECT_EQ(reloader_->reloads_ok(), 0u);
  EXPECT_EQ(reloader_->reloads_failed(), 0u);
}

TEST_F(CertificateReloaderTest, StartPublishesTheCrlUnderItsIssuerHash) {
  UseCrl(ca_.Crl());
  StartReloader();

  EXPECT_TRUE(reloader_->has_crl());
  std::vector<std::string> names = CrlFiles();
  ASSERT_THAT(names, SizeIs(1));
  EXPECT_THAT(names[0], MatchesRegex("[0-9a-f]{8}\\.r0"));
  EXPECT_EQ(ReadAll(reloader_->crl_dir() + "/" + names[0]), ReadAll(options_.files.crl));
}

// --- CheckNow ---------------------------------------------------------------------------------

TEST_F(CertificateReloaderTest, CheckNowPublishesARotatedPair) {
  StartReloader();
  const std::string old_generation = CurrentGeneration();
  pki::PemPair next = Rotate();

  absl::Status s = reloader_->CheckNow();

  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(reloader_->current()->leaf.serial_hex, SerialOf(next.cert_pem));
  EXPECT_NE(SerialOf(next.cert_pem), SerialOf(pair_.cert_pem));
  EXPECT_EQ(ReadAll(reloader_->cert_path()), next.cert_pem);
  EXPECT_EQ(ReadAll(reloader_->key_path()), next.key_pem);
  EXPECT_NE(CurrentGeneration(), old_generation);
  EXPECT_EQ(reloader_->reloads_ok(), 1u);
  EXPECT_EQ(reloader_->reloads_failed(), 0u);
}

TEST_F(CertificateReloaderTest, CheckNowWithUnchangedFilesPublishesNothing) {
  StartReloader();
  const std::string generation = CurrentGeneration();
  auto before = reloader_->current();

  ASSERT_TRUE(reloader_->CheckNow().ok());

  EXPECT_EQ(CurrentGeneration(), generation);
  EXPECT_EQ(reloader_->current(), before);
  EXPECT_EQ(reloader_->reloads_ok(), 0u);
}

TEST_F(CertificateReloaderTest, CheckNowRefusesAMismatchedKeyAndKeepsServingTheOldPair) {
  StartReloader();
  const std::string generation = CurrentGeneration();
  WriteFile(options_.files.key, ca_.Issue().key_pem);

  absl::Status s = reloader_->CheckNow();

  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("does not match"));
  EXPECT_EQ(reloader_->current()->leaf.serial_hex, SerialOf(pair_.cert_pem));
  EXPECT_EQ(ReadAll(reloader_->cert_path()), pair_.cert_pem);
  EXPECT_EQ(ReadAll(reloader_->key_path()), pair_.key_pem);
  EXPECT_EQ(CurrentGeneration(), generation);
  EXPECT_EQ(reloader_->reloads_failed(), 1u);
  EXPECT_EQ(reloader_->reloads_ok(), 0u);
}

TEST_F(CertificateReloaderTest, CheckNowRefusesAnExpiredReplacement) {
  StartReloader();
  pki::PemPair expired = ca_.Issue(absl::Now() - absl::Hours(48), absl::Now() - absl::Hours(24));
  WriteFile(options_.files.key, expired.key_pem);
  WriteFile(options_.files.cert, expired.cert_pem);

  absl::Status s = reloader_->CheckNow();

  EXPECT_THAT(std::string(s.message()), HasSubstr("expired"));
  EXPECT_EQ(reloader_->current()->leaf.serial_hex, SerialOf(pair_.cert_pem));
  EXPECT_EQ(reloader_->reloads_failed(), 1u);
  EXPECT_EQ(reloader_->reloads_ok(), 0u);
}

TEST_F(CertificateReloaderTest, CheckNowRecoversOnceTheRotationIsComplete) {
  StartReloader();
  pki::PemPair next = ca_.Issue();
  WriteFile(options_.files.key, next.key_pem);  // half-way: new key, old cert
  ASSERT_FALSE(reloader_->CheckNow().ok());
  WriteFile(options_.files.cert, next.cert_pem);

  absl::Status s = reloader_->CheckNow();

  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(reloader_->current()->leaf.serial_hex, SerialOf(next.cert_pem));
  EXPECT_EQ(reloader_->reloads_failed(), 1u);
  EXPECT_EQ(reloader_->reloads_ok(), 1u);
}

TEST_F(CertificateReloaderTest, CrlOnlyChangePublishesANewGenerationWithADifferentCaFile) {
  UseCrl(ca_.Crl());
  StartReloader();
  const std::string generation = CurrentGeneration();
  const std::string ca_file = ReadAll(reloader_->ca_path());
  const std::string serial = SerialOf(pair_.cert_pem);
  WriteFile(options_.files.crl, ca_.Crl({serial}));

  absl::Status s = reloader_->CheckNow();

  ASSERT_TRUE(s.ok()) << s;
  EXPECT_NE(CurrentGeneration(), generation);
  // gRPC re-reads its CRL directory only when a watched file changes: the CA file must differ.
  EXPECT_NE(ReadAll(reloader_->ca_path()), ca_file);
  EXPECT_THAT(ReadAll(reloader_->ca_path()), EndsWith(ca_.cert_pem()));
  std::vector<std::string> names = CrlFiles();
  ASSERT_THAT(names, SizeIs(1));
  EXPECT_EQ(ReadAll(reloader_->crl_dir() + "/" + names[0]), ReadAll(options_.files.crl));
  EXPECT_EQ(reloader_->reloads_ok(), 1u);
}

TEST_F(CertificateReloaderTest, KeepsOnlyTheCurrentAndThePreviousGeneration) {
  StartReloader();
  std::string previous;
  for (int i = 0; i < 3; ++i) {
    previous = CurrentGeneration();
    Rotate();
    ASSERT_TRUE(reloader_->CheckNow().ok());
  }

  std::vector<std::string> generations;
  for (const auto& e : fs::directory_iterator(options_.live_dir)) {
    if (e.is_directory() && !e.is_symlink()) generations.push_back(e.path().filename().string());
  }
  std::sort(generations.begin(), generations.end());
  std::vector<std::string> expected = {previous, CurrentGeneration()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(generations, expected);
}

// --- The background thread ------------------------------------------------------------------

TEST_F(CertificateReloaderTest, BackgroundThreadPublishesARotationWithinThreeIntervals) {
  options_.interval = absl::Seconds(1);
  options_.poll = CertificateReloader::Options().poll;
  StartReloader();
  const std::string want = SerialOf(Rotate().cert_pem);

  const absl::Time deadline = absl::Now() + 3 * options_.interval;
  while (reloader_->current()->leaf.serial_hex != want && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  EXPECT_EQ(reloader_->current()->leaf.serial_hex, want);
  EXPECT_EQ(ReadAll(reloader_->cert_path()), ReadAll(options_.files.cert));
}

}  // namespace
}  // namespace nodegate::tls
