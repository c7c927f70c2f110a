// A CA kept in a directory, as `nodegate pki` manages it:
//   DIR/ca.pem, DIR/ca-key.pem (0600), DIR/<name>.pem + DIR/<name>-key.pem (0600),
//   DIR/revoked.txt (one serial per line, uppercase hex), DIR/crl.pem.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "pki/certificate_authority.h"

namespace nodegate::pki {

class PkiDir {
 public:
  explicit PkiDir(std::string dir) : dir_(std::move(dir)) {}

  std::string ca_cert_path() const { return dir_ + "/ca.pem"; }
  std::string ca_key_path() const { return dir_ + "/ca-key.pem"; }
  std::string crl_path() const { return dir_ + "/crl.pem"; }
  std::string revoked_path() const { return dir_ + "/revoked.txt"; }

  // Creates the CA. ALREADY_EXISTS unless `force`.
  absl::Status Init(const CaOptions& options, bool force);
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> LoadCa() const;
  // Issues `name` into `out_dir` (empty = this directory). ALREADY_EXISTS unless `force`.
  // Returns the certificate path.
  absl::StatusOr<std::string> Issue(const std::string& name, const IssueOptions& options,
                                    const std::string& out_dir, bool force) const;
  // Adds the serial of the certificate in `cert_path` to revoked.txt and rewrites crl.pem.
  // Returns the serial.
  absl::StatusOr<std::string> Revoke(const std::string& cert_path) const;
  // Rewrites crl.pem from revoked.txt (an empty CRL when nothing is revoked).
  absl::Status WriteCrl(absl::Duration validity = kDefaultCrlValidity) const;
  // Signs the CSR in `csr_path` with this CA (its self-signature is checked; subject and SANs come
  // from `options`) and writes the certificate to `out_path`. ALREADY_EXISTS unless `force`.
  absl::Status SignCsr(const std::string& csr_path, const IssueOptions& options,
                       const std::string& out_path, bool force) const;

 private:
  std::string dir_;
};

}  // namespace nodegate::pki
