// Fixtures shared by the fuzzers (docs/fuzzing.md): a fixed test PKI and signing key, so that the
// committed seed corpora can carry a forwarded certificate that verifies and a signature that
// checks; a fixed clock; scratch directories for the real SQLite stores; and the small text
// formats the seeds are written in. Test material only: these keys protect nothing.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/digest.h"
#include "pki/certificate_info.h"
#include "tls/credential_set.h"
#include "tls/peer_identity.h"

namespace nodegate::fuzz {

// 2027-01-01T00:00:00Z: inside the validity of the certificates below, and the timestamp the
// seeds' signatures carry.
inline const absl::Time kNow = absl::FromUnixMillis(1'798'761'600'000);
inline constexpr char kAudience[] = "node-server";

// A P-256 CA and a client certificate it issued (CN dev-client, URI SAN
// spiffe://nodegate.local/node/dev-client, clientAuth), and the Ed25519 public key of node-a,
// whose private key signed the signature seeds (tests/fuzz/corpus/authorizer/README).
inline constexpr char kCaCertPem[] = R"pem(-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUKECQ8r2v1J4PpDZzPUvNaY9l6ckwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQbm9kZWdhdGUgZnV6eiBDQTAeFw0yNjEyMDMwODI4MDVaFw00
NjExMjgwODI4MDVaMBsxGTAXBgNVBAMMEG5vZGVnYXRlIGZ1enogQ0EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQTh6Jfj1z7/UxjKujbrC4LAf7Q+rnSNEyK17H+
yGUd8442/FurSTwQOAY55UBjM5kCsejUKvHENUTLNINjzEG9o2MwYTAdBgNVHQ4E
FgQUGBU+Bl2oLthnBdgmctXMYSndRtkwHwYDVR0jBBgwFoAUGBU+Bl2oLthnBdgm
ctXMYSndRtkwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZI
zj0EAwIDSAAwRQIgavT7GOGVur1hq79W5lCe7Dy/9aSDYzBT9g0NitdVbx4CIQCj
VsysByIpxdTBb+uPNHyBtwPi6hc+CnFuN4Cym4ljTA==
-----END CERTIFICATE-----
)pem";
inline constexpr char kCaKeyPem[] = R"pem(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZA7eOxkqygzNFezO
LsIks43ifXnGAys93ARKm46HL9KhRANCAAQTh6Jfj1z7/UxjKujbrC4LAf7Q+rnS
NEyK17H+yGUd8442/FurSTwQOAY55UBjM5kCsejUKvHENUTLNINjzEG9
-----END PRIVATE KEY-----
)pem";
inline constexpr char kClientCertPem[] = R"pem(-----BEGIN CERTIFICATE-----
MIIByjCCAXCgAwIBAgIEEjSrzTAKBggqhkjOPQQDAjAbMRkwFwYDVQQDDBBub2Rl
Z2F0ZSBmdXp6IENBMB4XDTI2MTIwMzA4MjgwNVoXDTQ2MDIwMTA4MjgwNVowFTET
MBEGA1UEAwwKZGV2LWNsaWVudDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABK3e
wo9tHMvwSUr2JmHoX0rbWNUX0a+nRL0DjLm/YOmiW5Afn97sg8oVTdRFmmAiev6s
J5jaAaRLzQSjWixUjlWjgacwgaQwCQYDVR0TBAIwADAOBgNVHQ8BAf8EBAMCB4Aw
EwYDVR0lBAwwCgYIKwYBBQUHAwIwMgYDVR0RBCswKYYnc3BpZmZlOi8vbm9kZWdh
dGUubG9jYWwvbm9kZS9kZXYtY2xpZW50MB0GA1UdDgQWBBTT1Td3MILL5QJDYpSn
MJZwj6Ln5DAfBgNVHSMEGDAWgBQYFT4GXagu2GcF2CZy1cxhKd1G2TAKBggqhkjO
PQQDAgNIADBFAiA1+nsi8e5jb6kkAoPYUUXuGRuDeT94ud1Oi6QUSDcW+QIhAIrN
df5a++Jr3ybNlu0/nGNuhGxpwNPL4gVsEpFy1vcx
-----END CERTIFICATE-----
)pem";
inline constexpr char kNodeAPublicKeyPem[] = R"pem(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEApVJyaPx7WjZxyn+YDtParMdEIhxgQvfrAmQ/lEpFe+4=
-----END PUBLIC KEY-----
)pem";

// Aborts with the status: a fixture that cannot be built makes every input meaningless.
template <typename T>
T Must(absl::StatusOr<T> v) {
  if (!v.ok()) {
    fprintf(stderr, "fuzz fixture: %s\n", std::string(v.status().message()).c_str());
    std::abort();
  }
  return *std::move(v);
}

// The fixed CA as a node's validated TLS set (its ca_pem is what forwarded certificates chain to).
inline std::shared_ptr<const tls::CredentialSet> TrustSet() {
  static const std::shared_ptr<const tls::CredentialSet> set = [] {
    auto s = std::make_shared<tls::CredentialSet>();
    s->cert_chain_pem = kClientCertPem;
    s->ca_pem = kCaCertPem;
    s->leaf = Must(pki::InspectCertificatePem(kClientCertPem, "fuzz"));
    s->content_digest = crypto::Sha256Hex(s->cert_chain_pem + s->ca_pem);
    return s;
  }();
  return set;
}

// A new empty directory, on tmpfs when there is one: the stores fsync every acknowledged write,
// which on a disk would make the fuzzer measure the disk.
inline std::string NewScratchDir() {
  std::string base = "/dev/shm";
  if (const char* t = std::getenv("NODEGATE_FUZZ_TMPDIR")) base = t;
  if (::access(base.c_str(), W_OK) != 0) base = std::filesystem::temp_directory_path().string();
  std::string templ = base + "/nodegate-fuzz-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) std::abort();
  return templ;
}

// Removes the directory when the process exits (libFuzzer exits through exit()).
class ScratchDir {
 public:
  ScratchDir() : path_(NewScratchDir()) {}
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The seed format of the header-carrying targets: lines up to the first empty line, then the rest
// as a body. A line is split at its first ':' into a name and a value (one leading space dropped).
struct HeaderBlock {
  std::vector<std::string_view> lines;
  std::string_view body;
};

inline HeaderBlock SplitHeaderBlock(std::string_view data) {
  HeaderBlock b;
  while (!data.empty()) {
    size_t nl = data.find('\n');
    std::string_view line = data.substr(0, nl);
    data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
    if (line.empty()) {
      b.body = data;
      return b;
    }
    b.lines.push_back(line);
  }
  return b;
}

inline std::pair<std::string_view, std::string_view> SplitHeader(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return {line, {}};
  std::string_view value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return {line.substr(0, colon), value};
}

// "cn|spiffe-uri|transport" → an authenticated peer ("" or "-" → no certificate).
inline tls::PeerIdentity ParsePeer(std::string_view spec) {
  tls::PeerIdentity p;
  if (spec.empty() || spec == "-") return p;
  size_t a = spec.find('|');
  size_t b = a == std::string_view::npos ? a : spec.find('|', a + 1);
  p.authenticated = true;
  p.common_name = std::string(spec.substr(0, a));
  if (a != std::string_view::npos) p.spiffe_id = std::string(spec.substr(a + 1, b - a - 1));
  p.transport = b == std::string_view::npos ? "ssl" : std::string(spec.substr(b + 1));
  return p;
}

}  // namespace nodegate::fuzz
