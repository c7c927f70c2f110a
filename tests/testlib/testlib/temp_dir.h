// A scratch directory that a test owns: created empty under the build tree's test area and
// removed with everything in it when the object goes out of scope, also when the test fails.
#pragma once

#include <string>
#include <string_view>

namespace nodegate::testlib {

class ScopedTempDir {
 public:
  // <Root()>/<prefix>-XXXXXX; an empty prefix names the directory after the running test.
  explicit ScopedTempDir(std::string_view prefix = "");
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name (not created).
  std::string File(std::string_view name) const;

  // Where every ScopedTempDir is made: the build tree's tests/unit/tmp.
  static std::string Root();

 private:
  std::string path_;
};

}  // namespace nodegate::testlib
