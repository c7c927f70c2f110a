// Helpers shared by the crypto unit tests: PEM from known DER, a scratch directory, and running the
// openssl command-line tool for cross-checks.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "crypto/encoding.h"

namespace nodegate::crypto::testing {

// Hex to bytes for test constants; a malformed constant is a bug in the test.
inline std::string Unhex(std::string_view hex) {
  auto bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// PEM armour around DER, with the 64-column lines OpenSSL writes.
inline std::string Pem(std::string_view label, std::string_view der) {
  const std::string body = Base64Encode(der);
  std::string pem = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < body.size(); i += 64) pem += body.substr(i, 64) + "\n";
  pem += "-----END " + std::string(label) + "-----\n";
  return pem;
}

// The DER inside a single-block PEM (what the fingerprint hashes).
inline std::string PemBody(std::string_view pem) {
  std::string b64;
  std::istringstream in{std::string(pem)};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("-----", 0) != 0) b64 += line;
  }
  auto der = Base64Decode(b64);
  EXPECT_TRUE(der.ok()) << der.status();
  return der.ok() ? *der : std::string();
}

// A fresh directory for the current test under the build tree's test scratch area.
inline std::filesystem::path ScratchDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(NODEGATE_TEST_TMPDIR) / "crypto" /
                              (std::string(info->test_suite_name()) + "." + info->name() + "." +
                               std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void WriteFile(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Runs `command` with sh, its output going to `log`; returns the exit code (-1 if it did not exit).
inline int RunCommand(const std::string& command, const std::filesystem::path& log) {
  const int status = std::system((command + " >'" + log.string() + "' 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace nodegate::crypto::testing
