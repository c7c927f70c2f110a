// Certificate fixtures made with nodegate's own pki: an in-memory CA that issues server and client
// certificates and CRLs, a ready-made CA + server + client set, and the same laid out as PEM files
// in a scratch directory the way an operator would.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pki/certificate_authority.h"
#include "testlib/temp_dir.h"
#include "tls/credential_set.h"

namespace nodegate::testlib {

// An in-memory CA (ECDSA P-256: fast to make).
class TestCa {
 public:
  explicit TestCa(const std::string& common_name = "nodegate test CA");

  const std::string& cert_pem() const { return pair_.cert_pem; }
  // The CA's own certificate and key.
  const pki::PemPair& pair() const { return pair_; }

  pki::PemPair Issue(const pki::IssueOptions& options) const;
  // serverAuth for `common_name`, SANs localhost and 127.0.0.1. InfinitePast = the pki defaults.
  pki::PemPair IssueServer(absl::Time not_before = absl::InfinitePast(),
                           absl::Time not_after = absl::InfinitePast(),
                           const std::string& common_name = "localhost") const;
  // clientAuth for node `node_id`: CN and spiffe://nodegate.local/node/<node_id>.
  pki::PemPair IssueClient(const std::string& node_id) const;
  std::string Crl(const std::vector<std::string>& serials = {}) const;

 private:
  pki::PemPair pair_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
};

// The serial of the first certificate in `cert_pem`, as uppercase hex.
std::string SerialOf(const std::string& cert_pem);

// A validated-looking TLS set (as LoadCredentialSet returns it) for `leaf` under `ca_pem`.
std::shared_ptr<const tls::CredentialSet> MakeCredentialSet(const pki::PemPair& leaf,
                                                            const std::string& ca_pem);

// A CA with a server certificate (localhost, 127.0.0.1) and a client certificate (node
// dev-client) it issued.
struct TestPki {
  pki::PemPair ca;
  pki::PemPair server;
  pki::PemPair client;  // CN dev-client, spiffe://nodegate.local/node/dev-client

  static TestPki Make();
  std::shared_ptr<const tls::CredentialSet> ServerSet() const;
};

// A TestCa whose certificates are written as PEM files into a scratch directory it owns.
class PkiDir {
 public:
  explicit PkiDir(const std::string& ca_name = "nodegate test CA");

  const std::string& dir() const { return dir_.path(); }
  const TestCa& ca() const { return ca_; }
  std::string ca_path() const { return dir_.File("ca.pem"); }
  std::string Path(const std::string& file) const { return dir_.File(file); }

  // Issues `name` (server: SANs localhost/127.0.0.1; client: node id = name), writes
  // <name>.pem and <name>-key.pem, and returns them with the CA as TlsFiles.
  tls::TlsFiles Issue(const std::string& name, bool server);
  // Writes `content` to dir()/`file` (atomically, 0600).
  void Write(const std::string& file, std::string_view content) const;

 private:
  ScopedTempDir dir_;
  TestCa ca_;
};

}  // namespace nodegate::testlib
