#include "tls/certificate_reloader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "pki/pem.h"
#include "testlib/files.h"
#include "testlib/manual_clock.h"
#include "testlib/pki.h"
#include "testlib/temp_dir.h"

namespace nodegate::tls {
namespace {

namespace fs = std::filesystem;

using ::nodegate::testlib::FileMode;
using ::nodegate::testlib::ReadFile;
using ::nodegate::testlib::SerialOf;
using ::nodegate::testlib::TestCa;
using ::nodegate::testlib::WriteFile;
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
    options_.files.cert = dir_.path() + "/node.pem";
    options_.files.key = dir_.path() + "/node-key.pem";
    options_.files.ca = dir_.path() + "/ca.pem";
    options_.live_dir = dir_.path() + "/live";
    options_.interval = kNeverPoll;
    options_.poll = kNeverPoll;
    pair_ = ca_.IssueServer();
    WriteFile(options_.files.cert, pair_.cert_pem);
    WriteFile(options_.files.key, pair_.key_pem);
    WriteFile(options_.files.ca, ca_.cert_pem());
  }
  void TearDown() override {
    reloader_.reset();  // joins the thread before the files go
  }

  void UseCrl(const std::string& crl_pem) {
    options_.files.crl = dir_.path() + "/crl.pem";
    WriteFile(options_.files.crl, crl_pem);
  }

  void StartReloader() {
    auto reloader = CertificateReloader::Start(options_);
    ASSERT_TRUE(reloader.ok()) << reloader.status();
    reloader_ = *std::move(reloader);
  }

  // Replaces cert and key with a new valid pair; returns it.
  pki::PemPair Rotate() {
    pki::PemPair next = ca_.IssueServer();
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
  ::nodegate::testlib::ScopedTempDir dir_;
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
  WriteFile(options_.files.key, ca_.IssueServer().key_pem);
  auto reloader = CertificateReloader::Start(options_);
  EXPECT_EQ(reloader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reloader.status().message()), HasSubstr("does not match"));
}

TEST_F(CertificateReloaderTest, StartPublishesTheSourceFilesThroughTheCurrentSymlink) {
  StartReloader();

  EXPECT_TRUE(fs::is_symlink(options_.live_dir + "/current"));
  EXPECT_EQ(reloader_->cert_path(), options_.live_dir + "/current/cert.pem");
  EXPECT_EQ(ReadFile(reloader_->cert_path()), pair_.cert_pem);
  EXPECT_EQ(ReadFile(reloader_->key_path()), pair_.key_pem);
  EXPECT_THAT(ReadFile(reloader_->ca_path()), StartsWith("# nodegate live generation "));
  EXPECT_THAT(ReadFile(reloader_->ca_path()), EndsWith(ca_.cert_pem()));
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
  EXPECT_EQ(ReadFile(reloader_->crl_dir() + "/" + names[0]), ReadFile(options_.files.crl));
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
  EXPECT_EQ(ReadFile(reloader_->cert_path()), next.cert_pem);
  EXPECT_EQ(ReadFile(reloader_->key_path()), next.key_pem);
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
  WriteFile(options_.files.key, ca_.IssueServer().key_pem);

  absl::Status s = reloader_->CheckNow();

  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("does not match"));
  EXPECT_EQ(reloader_->current()->leaf.serial_hex, SerialOf(pair_.cert_pem));
  EXPECT_EQ(ReadFile(reloader_->cert_path()), pair_.cert_pem);
  EXPECT_EQ(ReadFile(reloader_->key_path()), pair_.key_pem);
  EXPECT_EQ(CurrentGeneration(), generation);
  EXPECT_EQ(reloader_->reloads_failed(), 1u);
  EXPECT_EQ(reloader_->reloads_ok(), 0u);
}

TEST_F(CertificateReloaderTest, CheckNowRefusesAnExpiredReplacement) {
  StartReloader();
  pki::PemPair expired =
      ca_.IssueServer(absl::Now() - absl::Hours(48), absl::Now() - absl::Hours(24));
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
  pki::PemPair next = ca_.IssueServer();
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
  const std::string ca_file = ReadFile(reloader_->ca_path());
  const std::string serial = SerialOf(pair_.cert_pem);
  WriteFile(options_.files.crl, ca_.Crl({serial}));

  absl::Status s = reloader_->CheckNow();

  ASSERT_TRUE(s.ok()) << s;
  EXPECT_NE(CurrentGeneration(), generation);
  // gRPC re-reads its CRL directory only when a watched file changes: the CA file must differ.
  EXPECT_NE(ReadFile(reloader_->ca_path()), ca_file);
  EXPECT_THAT(ReadFile(reloader_->ca_path()), EndsWith(ca_.cert_pem()));
  std::vector<std::string> names = CrlFiles();
  ASSERT_THAT(names, SizeIs(1));
  EXPECT_EQ(ReadFile(reloader_->crl_dir() + "/" + names[0]), ReadFile(options_.files.crl));
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

// The background thread on a ManualClock: each step below is exact, not a race against time.
class ReloaderScheduleTest : public CertificateReloaderTest {
 protected:
  void SetUp() override {
    CertificateReloaderTest::SetUp();
    options_.interval = absl::Seconds(1);
    options_.poll = absl::Milliseconds(200);
    options_.clock = &clock_;
  }
  void StartAndPark() {
    StartReloader();
    clock_.BlockUntilWaiting(1);  // the thread waits for its first poll
  }

  // Starts at the wall time: the fixture's certificates are valid from a few minutes ago.
  ::nodegate::testlib::ManualClock clock_{absl::Now()};
};

TEST_F(ReloaderScheduleTest, PublishesARotationAtTheNextPollAndNotBefore) {
  StartAndPark();
  const std::string before = reloader_->current()->leaf.serial_hex;
  const std::string want = SerialOf(Rotate().cert_pem);

  clock_.Advance(absl::Milliseconds(199));
  clock_.BlockUntilWaiting(1);
  EXPECT_EQ(reloader_->current()->leaf.serial_hex, before);
  EXPECT_EQ(reloader_->reloads_ok(), 0u);

  clock_.Advance(absl::Milliseconds(1));
  clock_.BlockUntilWaiting(1);  // it polled, and waits for the next poll
  EXPECT_EQ(reloader_->current()->leaf.serial_hex, want);
  EXPECT_EQ(ReadFile(reloader_->cert_path()), ReadFile(options_.files.cert));
  EXPECT_EQ(reloader_->reloads_ok(), 1u);
}

TEST_F(ReloaderScheduleTest, PollsAtTheIntervalWhenItIsShorterThanThePoll) {
  options_.poll = absl::Seconds(5);
  StartAndPark();
  const std::string want = SerialOf(Rotate().cert_pem);

  clock_.Advance(options_.interval);
  clock_.BlockUntilWaiting(1);

  EXPECT_EQ(reloader_->current()->leaf.serial_hex, want);
}

TEST_F(ReloaderScheduleTest, UnchangedFilesArePolledWithoutAReload) {
  StartAndPark();

  for (int i = 0; i < 5; ++i) {
    clock_.Advance(options_.poll);
    clock_.BlockUntilWaiting(1);
  }

  EXPECT_EQ(clock_.waits_started(), 6);
  EXPECT_EQ(reloader_->reloads_ok(), 0u);
  EXPECT_EQ(reloader_->reloads_failed(), 0u);
}

TEST_F(ReloaderScheduleTest, ARotationThatHasExpiredByTheClockIsRefused) {
  StartAndPark();
  const std::string serving = reloader_->current()->leaf.serial_hex;
  const absl::Time now = clock_.Now();
  const pki::PemPair short_lived = ca_.IssueServer(now - absl::Hours(1), now + absl::Hours(24));
  WriteFile(options_.files.key, short_lived.key_pem);
  WriteFile(options_.files.cert, short_lived.cert_pem);

  clock_.Advance(absl::Hours(25));
  clock_.BlockUntilWaiting(1);

  EXPECT_EQ(reloader_->current()->leaf.serial_hex, serving);
  EXPECT_EQ(reloader_->reloads_failed(), 1u);
}

TEST_F(ReloaderScheduleTest, DestroyingTheReloaderEndsItsWaitWithoutThePoll) {
  StartAndPark();

  reloader_.reset();  // joins the thread: returns only because the stop ends its wait

  EXPECT_EQ(clock_.waits_started(), 1);
}

}  // namespace
}  // namespace nodegate::tls
