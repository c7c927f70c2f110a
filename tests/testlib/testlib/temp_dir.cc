#include "testlib/temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace nodegate::testlib {
namespace {

std::string PrefixForCurrentTest() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return "nodegate";
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  // Parameterized names carry '/': keep the directory one level deep.
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return name;
}

}  // namespace

std::string ScopedTempDir::Root() { return NODEGATE_TEST_TMPDIR; }

ScopedTempDir::ScopedTempDir(std::string_view prefix) {
  const std::string root = Root();
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  std::string templ =
      root + "/" + (prefix.empty() ? PrefixForCurrentTest() : std::string(prefix)) + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << templ << ": " << std::strerror(errno);
    std::abort();  // every use of path() would write somewhere unintended
  }
  path_ = std::move(templ);
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) ADD_FAILURE() << "removing " << path_ << ": " << ec.message();
}

std::string ScopedTempDir::File(std::string_view name) const {
  return path_ + "/" + std::string(name);
}

}  // namespace nodegate::testlib
