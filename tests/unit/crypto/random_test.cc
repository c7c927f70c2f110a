#include "crypto/random.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <set>

namespace nodegate::crypto {
namespace {

TEST(RandomUniformTest, StaysInRangeAndHitsEveryValue) {
  std::array<int, 6> seen{};
  for (int i = 0; i < 6000; ++i) {
    absl::StatusOr<int64_t> v = RandomUniform(1, 6);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_GE(*v, 1);
    ASSERT_LE(*v, 6);
    ++seen[*v - 1];
  }
  // Each face expects 1000; 700 is > 10 standard deviations away.
  for (int count : seen) EXPECT_GT(count, 700);
}

TEST(RandomUniformTest, HandlesSingleValueAndFullRanges) {
  EXPECT_EQ(*RandomUniform(42, 42), 42);
  std::set<int64_t> values;
  for (int i = 0; i < 100; ++i) values.insert(*RandomUniform(INT64_MIN, INT64_MAX));
  EXPECT_GT(values.size(), 95u);
  EXPECT_EQ(RandomUniform(2, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RandomUniformTest, DrawsAcrossPoolRefillsAreNotRepeated) {
  // 8 bytes per draw, 512 per pool: 1000 draws cross many refills.
  std::set<int64_t> values;
  for (int i = 0; i < 1000; ++i) values.insert(*RandomUniform(0, INT64_MAX));
  EXPECT_EQ(values.size(), 1000u);
}

TEST(RandomUniformTest, AForkedChildDoesNotRepeatTheParentsDraws) {
  ASSERT_TRUE(RandomUniform(0, INT64_MAX).ok());  // the pool now holds unused bytes
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::array<int64_t, 8> child{};
    for (int64_t& v : child) v = *RandomUniform(0, INT64_MAX);
    ssize_t n = write(fds[1], child.data(), sizeof(child));
    _exit(n == sizeof(child) ? 0 : 1);
  }
  std::array<int64_t, 8> parent{};
  for (int64_t& v : parent) v = *RandomUniform(0, INT64_MAX);
  std::array<int64_t, 8> child{};
  ASSERT_EQ(read(fds[0], child.data(), sizeof(child)), static_cast<ssize_t>(sizeof(child)));
  int status = 0;
  waitpid(pid, &status, 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_NE(parent, child);
  EXPECT_NE(parent[0], child[0]);
}

TEST(RandomBytesTest, GivesTheRequestedLengthAndDiffers) {
  EXPECT_EQ(RandomBytes(0)->size(), 0u);
  EXPECT_EQ(RandomBytes(33)->size(), 33u);
  EXPECT_NE(*RandomBytes(16), *RandomBytes(16));
}

}  // namespace
}  // namespace nodegate::crypto
