// observe::HandshakeLog: refused handshakes counted per listener and reason, written as one
// access-log line each, rate-limited per listener and reason on the caller's clock.
#include "observe/handshake_log.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "testlib/temp_dir.h"

namespace nodegate::observe {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

HandshakeRefusal Revoked() {
  HandshakeRefusal r;
  r.listener = "http";
  r.peer = "127.0.0.1:40000";
  r.reason = "revoked";
  r.words = "client certificate revoked";
  r.subject = "CN=alice";
  r.serial = "1A2B";
  r.detail = "certificate revoked";
  return r;
}

TEST(HandshakeLogTest, TextNamesTheCertificateAndTheReason) {
  EXPECT_EQ(HandshakeRefusalText(Revoked(), 0),
            "tls handshake refused: client certificate revoked (subject CN=alice, serial 1A2B): "
            "certificate revoked");
  HandshakeRefusal plain;
  plain.words = "plaintext on a TLS port";
  EXPECT_EQ(HandshakeRefusalText(plain, 3),
            "tls handshake refused: plaintext on a TLS port; 3 more like this suppressed");
}

TEST(HandshakeLogTest, CountsEveryRefusalButWritesOneLinePerIntervalAndReason) {
  HandshakeLog log(nullptr, absl::Seconds(1));
  EXPECT_TRUE(log.Record(Revoked(), kStart));
  EXPECT_FALSE(log.Record(Revoked(), kStart + absl::Milliseconds(10)));
  EXPECT_FALSE(log.Record(Revoked(), kStart + absl::Milliseconds(999)));
  HandshakeRefusal other = Revoked();
  other.reason = "unknown_ca";
  EXPECT_TRUE(log.Record(other, kStart + absl::Milliseconds(20)));  // its own budget
  EXPECT_TRUE(log.Record(Revoked(), kStart + absl::Seconds(1)));

  EXPECT_EQ(log.suppressed(), 2u);
  auto counts = log.Counts();
  EXPECT_EQ((counts[{"http", "revoked"}]), 4u);
  EXPECT_EQ((counts[{"http", "unknown_ca"}]), 1u);
}

TEST(HandshakeLogTest, ListenersAreLimitedIndependently) {
  HandshakeLog log(nullptr, absl::Seconds(1));
  HandshakeRefusal grpc = Revoked();
  grpc.listener = "grpc";
  EXPECT_TRUE(log.Record(Revoked(), kStart));
  EXPECT_TRUE(log.Record(grpc, kStart));
}

TEST(HandshakeLogTest, WritesAnAccessLogLineWithPeerAndSuppressedCount) {
  testlib::ScopedTempDir dir;
  const std::string path = dir.File("access.log");
  absl::StatusOr<std::shared_ptr<AccessLog>> access = AccessLog::Open(path);
  ASSERT_TRUE(access.ok()) << access.status();
  HandshakeLog log(*access, absl::Seconds(1));
  log.Record(Revoked(), kStart);
  log.Record(Revoked(), kStart + absl::Milliseconds(1));
  log.Record(Revoked(), kStart + absl::Seconds(2));
  (*access)->Flush();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string lines = text.str();
  EXPECT_NE(lines.find("\"peer\":\"127.0.0.1:40000\""), std::string::npos) << lines;
  EXPECT_NE(lines.find("\"method\":\"tls-handshake:http\""), std::string::npos) << lines;
  EXPECT_NE(lines.find("client certificate revoked (subject CN=alice, serial 1A2B)"),
            std::string::npos)
      << lines;
  EXPECT_NE(lines.find("; 1 more like this suppressed"), std::string::npos) << lines;
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 2) << lines;
}

}  // namespace
}  // namespace nodegate::observe
