// Helpers for the tunnel unit tests: a real CA from nodegate's pki writing PEM files into a scratch
// directory, and blocking loopback sockets.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "base/files.h"
#include "pki/certificate_authority.h"
#include "tls/credential_set.h"

namespace nodegate::tunnel::testing {

inline std::string NewTempDir() {
  std::string templ = "/tmp/nodegate-tunnel-test-XXXXXX";
  EXPECT_NE(::mkdtemp(templ.data()), nullptr);
  return templ;
}

class TestPki {
 public:
  TestPki() : dir_(NewTempDir()) {
    pki::CaOptions options;
    options.common_name = "tunnel test CA";
    absl::StatusOr<pki::PemPair> pair = pki::CertificateAuthority::Create(options);
    EXPECT_TRUE(pair.ok()) << pair.status();
    auto ca = pki::CertificateAuthority::Load(pair->cert_pem, pair->key_pem);
    EXPECT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
    Write("ca.pem", ca_->cert_pem());
  }

  const std::string& dir() const { return dir_; }
  std::string ca_path() const { return dir_ + "/ca.pem"; }

  // Issues `name` (server: SANs localhost/127.0.0.1; client: spiffe node id = name) and writes
  // <name>.pem and <name>-key.pem. Returns the files as a TlsFiles with the CA.
  tls::TlsFiles Issue(const std::string& name, bool server) {
    pki::IssueOptions o;
    o.common_name = name;
    o.server = server;
    o.client = !server;
    if (server) {
      o.sans = {"localhost", "127.0.0.1"};
    } else {
      o.node_id = name;
    }
    absl::StatusOr<pki::PemPair> pair = ca_->Issue(o);
    EXPECT_TRUE(pair.ok()) << pair.status();
    Write(name + ".pem", pair->cert_pem);
    Write(name + "-key.pem", pair->key_pem);
    return tls::TlsFiles{dir_ + "/" + name + ".pem", dir_ + "/" + name + "-key.pem", ca_path(), ""};
  }

  void Write(const std::string& file, std::string_view content) {
    absl::Status s = base::WriteFileAtomic(dir_ + "/" + file, content, 0600);
    ASSERT_TRUE(s.ok()) << s;
  }

 private:
  std::string dir_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
};

// A connected blocking TCP socket to 127.0.0.1:<port of `address`>, or -1.
inline int Connect(const std::string& address) {
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) << address;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `payload`, half-closes, and returns everything read until EOF (or error/timeout).
inline std::string RoundTrip(const std::string& address, const std::string& payload) {
  int fd = Connect(address);
  if (fd < 0) return "<connect failed>";
  size_t sent = 0;
  while (sent < payload.size()) {
    ssize_t n = ::send(fd, payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace nodegate::tunnel::testing
