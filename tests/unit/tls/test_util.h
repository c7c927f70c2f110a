// Helpers for the tls unit tests: real CAs and certificates from nodegate's pki, written into a
// scratch directory the way an operator would lay them out.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "base/files.h"
#include "pki/certificate_authority.h"
#include "pki/certificate_info.h"

namespace nodegate::tls::testing {

// A new empty directory under /tmp; the fixture removes it.
inline std::string NewTempDir() {
  std::string templ = "/tmp/nodegate-tls-test-XXXXXX";
  EXPECT_NE(::mkdtemp(templ.data()), nullptr);
  return templ;
}

// Writes the way a careful operator (or cert-manager) does: a temp file renamed over the target.
inline void WriteFile(const std::string& path, std::string_view content) {
  absl::Status s = base::WriteFileAtomic(path, content, 0600);
  ASSERT_TRUE(s.ok()) << s;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline mode_t FileMode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// An in-memory CA (ECDSA P-256: fast to make) that issues server certificates.
class TestCa {
 public:
  explicit TestCa(const std::string& name) {
    pki::CaOptions options;
    options.common_name = name;
    absl::StatusOr<pki::PemPair> pair = pki::CertificateAuthority::Create(options);
    EXPECT_TRUE(pair.ok()) << pair.status();
    auto ca = pki::CertificateAuthority::Load(pair->cert_pem, pair->key_pem);
    EXPECT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
  }

  const std::string& cert_pem() const { return ca_->cert_pem(); }

  pki::PemPair Issue(absl::Time not_before = absl::InfinitePast(),
                     absl::Time not_after = absl::InfinitePast()) const {
    pki::IssueOptions o;
    o.common_name = "localhost";
    o.server = true;
    o.sans = {"localhost", "127.0.0.1"};
    o.not_before = not_before;
    o.not_after = not_after;
    absl::StatusOr<pki::PemPair> pair = ca_->Issue(o);
    EXPECT_TRUE(pair.ok()) << pair.status();
    return pair.ok() ? *pair : pki::PemPair{};
  }

  std::string Crl(const std::vector<std::string>& serials = {}) const {
    absl::StatusOr<std::string> crl = ca_->MakeCrl(serials);
    EXPECT_TRUE(crl.ok()) << crl.status();
    return crl.ok() ? *crl : "";
  }

 private:
  std::unique_ptr<pki::CertificateAuthority> ca_;
};

inline std::string SerialOf(const std::string& cert_pem) {
  absl::StatusOr<pki::CertificateInfo> info = pki::InspectCertificatePem(cert_pem, "test cert");
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? info->serial_hex : "";
}

}  // namespace nodegate::tls::testing
