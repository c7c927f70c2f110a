#include "observe/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testlib/temp_dir.h"

namespace nodegate::observe {
namespace {

AccessRecord Sample() {
  AccessRecord r;
  r.time = absl::FromUnixMillis(1767225600123);  // 2026-01-01T00:00:00.123Z
  r.authority = "localhost";
  r.peer = "ipv4:127.0.0.1:5555";
  r.method = "/api.DiceService/RollDie";
  r.code = 7;
  r.duration_ms = 1.25;
  r.user_agent = "grpc-c++/1.51.1";
  r.client_cn = "dev-client";
  return r;
}

TEST(AccessLogTest, FormatsOneJsonObjectWithEveryField) {
  nlohmann::json j = nlohmann::json::parse(FormatAccessRecord(Sample()));

  EXPECT_EQ(j["time"], "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(j["authority"], "localhost");
  EXPECT_EQ(j["peer"], "ipv4:127.0.0.1:5555");
  EXPECT_EQ(j["method"], "/api.DiceService/RollDie");
  EXPECT_EQ(j["code"], 7);
  EXPECT_EQ(j["status"], "PERMISSION_DENIED");
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.25);
  EXPECT_EQ(j["user_agent"], "grpc-c++/1.51.1");
  EXPECT_EQ(j["client_cn"], "dev-client");
  EXPECT_FALSE(j.contains("principal")) << "absent when unauthenticated";
  EXPECT_FALSE(j.contains("reason")) << "absent when allowed";
}

TEST(AccessLogTest, EscapesHostileValuesSoEachRecordStaysOneLine) {
  AccessRecord r = Sample();
  r.user_agent = "evil\"}\n{\"code\":0,\x01";
  r.principal = "user:a\\b";
  r.reason = "role_missing: x";

  std::string line = FormatAccessRecord(r);

  EXPECT_EQ(line.find('\n'), std::string::npos);
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["user_agent"], "evil\"}\n{\"code\":0,\x01");
  EXPECT_EQ(j["code"], 7);
  EXPECT_EQ(j["principal"], "user:a\\b");
  EXPECT_EQ(j["reason"], "role_missing: x");
}

// nlohmann::json::parse throws on invalid UTF-8, as strict JSON consumers reject such a line.
nlohmann::json ParseStrict(const std::string& line) { return nlohmann::json::parse(line); }

constexpr char kReplacement[] = "\xef\xbf\xbd";  // U+FFFD

TEST(AccessLogTest, InvalidUtf8InAnyFieldBecomesReplacementCharacters) {
  const std::string hostile =
      "a\xff"
      "b\xc3(";
  const std::string expected = std::string("a") + kReplacement + "b" + kReplacement + "(";
  for (std::string AccessRecord::*field :
       {&AccessRecord::authority, &AccessRecord::peer, &AccessRecord::method,
        &AccessRecord::user_agent, &AccessRecord::client_cn, &AccessRecord::principal,
        &AccessRecord::reason}) {
    AccessRecord r = Sample();
    r.*field = hostile;
    nlohmann::json j;
    ASSERT_NO_THROW(j = ParseStrict(FormatAccessRecord(r)));
    bool found = false;
    for (const auto& [key, value] : j.items()) found |= value == expected;
    EXPECT_TRUE(found) << j.dump();
  }
}

TEST(AccessLogTest, OverlongSurrogateAndOutOfRangeSequencesAreReplaced) {
  AccessRecord r = Sample();
  // Overlong "/", an encoded UTF-16 surrogate, a code point above U+10FFFF, a lone continuation.
  r.user_agent = "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\x80";
  nlohmann::json j;
  ASSERT_NO_THROW(j = ParseStrict(FormatAccessRecord(r)));
  const std::string ua = j["user_agent"];
  EXPECT_EQ(ua.find('\xc0'), std::string::npos);
  EXPECT_EQ(ua.find("\xed\xa0"), std::string::npos);
  EXPECT_EQ(ua.find("\xf4\x90"), std::string::npos);
  EXPECT_NE(ua.find(kReplacement), std::string::npos);
}

TEST(AccessLogTest, ATruncatedSequenceAtTheEndIsReplaced) {
  AccessRecord r = Sample();
  r.user_agent = "euro \xe2\x82";
  nlohmann::json j;
  ASSERT_NO_THROW(j = ParseStrict(FormatAccessRecord(r)));
  EXPECT_EQ(j["user_agent"], std::string("euro ") + kReplacement + kReplacement);
}

TEST(AccessLogTest, WellFormedUtf8IsKeptAsIs) {
  AccessRecord r = Sample();
  r.user_agent =
      "gr\xc3\xbc\xc3\x9f"
      "e \xe2\x9c\x93 \xf0\x9f\x98\x80";  // grüße ✓ 😀
  EXPECT_EQ(ParseStrict(FormatAccessRecord(r))["user_agent"], r.user_agent);
}

TEST(AccessLogTest, DeleteAndC1ControlsAreEscaped) {
  AccessRecord r = Sample();
  r.user_agent =
      "a\x7f"
      "b\xc2\x85"
      "c\x1b";
  std::string line = FormatAccessRecord(r);
  EXPECT_NE(line.find("a\\u007fb\\u0085c\\u001b"), std::string::npos) << line;
  EXPECT_EQ(ParseStrict(line)["user_agent"], r.user_agent);
}

TEST(AccessLogTest, StatusNamesCoverEveryCanonicalCode) {
  EXPECT_STREQ(StatusCodeName(0), "OK");
  EXPECT_STREQ(StatusCodeName(16), "UNAUTHENTICATED");
  EXPECT_STREQ(StatusCodeName(17), "UNKNOWN");
  EXPECT_STREQ(StatusCodeName(-1), "UNKNOWN");
}

TEST(AccessLogTest, WritesLinesToAFileAndFlushes) {
  testlib::ScopedTempDir dir;
  const std::string path = dir.File("access_log_test.jsonl");
  {
    absl::StatusOr<std::shared_ptr<AccessLog>> log = AccessLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Write(Sample());
    (*log)->Write(Sample());
    (*log)->Flush();
  }
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(nlohmann::json::parse(line)["method"], "/api.DiceService/RollDie");
    ++lines;
  }
  EXPECT_EQ(lines, 2);
}

TEST(AccessLogTest, OffWritesNothing) {
  absl::StatusOr<std::shared_ptr<AccessLog>> log = AccessLog::Open("off");
  ASSERT_TRUE(log.ok());
  EXPECT_FALSE((*log)->enabled());
  (*log)->Write(Sample());  // no-op, no crash
}

TEST(AccessLogTest, UnwritablePathIsAnErrorNamingTheField) {
  absl::StatusOr<std::shared_ptr<AccessLog>> log = AccessLog::Open("/dev/null/not-a-dir/log");
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(std::string(log.status().message()), ::testing::HasSubstr("log.access_log"));
}

// A destination that stops reading (a stalled pipe) must not stall the callers: lines are dropped
// and counted once 16 MiB are waiting.
TEST(AccessLogTest, DropsAndCountsLinesInsteadOfBlockingWhenTheDestinationStalls) {
  testlib::ScopedTempDir dir;
  const std::string fifo = dir.File("stalled.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // open, never read (yet)
  ASSERT_GE(reader, 0);
  auto log = AccessLog::Open(fifo);
  ASSERT_TRUE(log.ok()) << log.status();
  AccessRecord r;
  r.method = "/api.DiceService/RollDie";
  r.user_agent = std::string(200, 'u');

  for (int i = 0; i < 100'000; ++i) (*log)->Write(r);  // ~30 MB of lines: returns, never blocks

  EXPECT_GT((*log)->dropped(), 0u);
  // Drain the pipe so the writer thread can finish, then close.
  std::atomic<bool> done{false};
  std::thread drain([&] {
    char buf[65536];
    while (!done.load()) {
      if (read(reader, buf, sizeof(buf)) <= 0) usleep(1000);
    }
  });
  log->reset();
  done = true;
  drain.join();
  close(reader);
  unlink(fifo.c_str());
}

}  // namespace
}  // namespace nodegate::observe
