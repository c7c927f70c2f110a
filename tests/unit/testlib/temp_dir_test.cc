#include "testlib/temp_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "testlib/files.h"

namespace nodegate::testlib {
namespace {

namespace fs = std::filesystem;

TEST(ScopedTempDirTest, MakesAFreshEmptyDirectoryUnderTheRootNamedAfterTheTest) {
  ScopedTempDir dir;

  EXPECT_TRUE(fs::is_directory(dir.path()));
  EXPECT_TRUE(fs::is_empty(dir.path()));
  EXPECT_EQ(fs::path(dir.path()).parent_path(), fs::path(ScopedTempDir::Root()));
  EXPECT_THAT(fs::path(dir.path()).filename().string(),
              ::testing::StartsWith("ScopedTempDirTest.MakesAFreshEmpty"));
}

TEST(ScopedTempDirTest, TwoDirectoriesAreDistinct) {
  ScopedTempDir a("same");
  ScopedTempDir b("same");

  EXPECT_NE(a.path(), b.path());
}

TEST(ScopedTempDirTest, RemovesItselfAndEverythingInItWhenItGoes) {
  auto dir = std::make_unique<ScopedTempDir>();
  const std::string path = dir->path();
  fs::create_directories(dir->File("a/b"));
  WriteFile(dir->File("a/b/file"), "content");
  WriteFile(dir->File("top"), "content");

  dir.reset();

  EXPECT_FALSE(fs::exists(path));
}

// The destructor runs when an ASSERT ends the test early; the failure itself is expected here.
TEST(ScopedTempDirTest, IsRemovedAlsoWhenTheTestFails) {
  std::string path;
  auto failing = [&path] {
    ScopedTempDir dir;
    path = dir.path();
    WriteFile(dir.File("file"), "content");
    ASSERT_TRUE(false) << "expected failure";
  };
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    failing();
  }

  EXPECT_EQ(failures.size(), 1);
  EXPECT_FALSE(path.empty());
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace nodegate::testlib
