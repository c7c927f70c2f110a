#include "pki/pki_dir.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/files.h"
#include "pki/certificate_info.h"

namespace nodegate::pki {

absl::Status PkiDir::Init(const CaOptions& options, bool force) {
  if (!force && (base::FileExists(ca_cert_path()) || base::FileExists(ca_key_path()))) {
    return absl::AlreadyExistsError(
        absl::StrCat(ca_cert_path(), " already exists (use --force to replace the CA)"));
  }
  if (absl::Status s = base::MakeDirs(dir_, 0755); !s.ok()) return s;
  absl::StatusOr<PemPair> ca = CertificateAuthority::Create(options);
  if (!ca.ok()) return ca.status();
  // Key first: a CA cert without its key on disk would be unusable.
  if (absl::Status s = base::WriteFileAtomic(ca_key_path(), ca->key_pem, 0600); !s.ok()) return s;
  return base::WriteFileAtomic(ca_cert_path(), ca->cert_pem, 0644);
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>> PkiDir::LoadCa() const {
  absl::StatusOr<std::string> cert = base::ReadFile(ca_cert_path());
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = base::ReadFile(ca_key_path());
  if (!key.ok()) return key.status();
  return CertificateAuthority::Load(*cert, *key);
}

absl::StatusOr<std::string> PkiDir::Issue(const std::string& name, const IssueOptions& options,
                                          const std::string& out_dir, bool force) const {
  if (name.empty() || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("name '", name, "' must be a plain file name"));
  }
  const std::string dir = out_dir.empty() ? dir_ : out_dir;
  const std::string cert_path = absl::StrCat(dir, "/", name, ".pem");
  const std::string key_path = absl::StrCat(dir, "/", name, "-key.pem");
  if (!force && (base::FileExists(cert_path) || base::FileExists(key_path))) {
    return absl::AlreadyExistsError(
        absl::StrCat(cert_path, " already exists (use --force to replace it)"));
  }
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca = LoadCa();
  if (!ca.ok()) return ca.status();
  absl::StatusOr<PemPair> issued = (*ca)->Issue(options);
  if (!issued.ok()) return issued.status();
  if (absl::Status s = base::MakeDirs(dir, 0755); !s.ok()) return s;
  if (absl::Status s = base::WriteFileAtomic(key_path, issued->key_pem, 0600); !s.ok()) return s;
  if (absl::Status s = base::WriteFileAtomic(cert_path, issued->cert_pem, 0644); !s.ok()) return s;
  return cert_path;
}

absl::StatusOr<std::string> PkiDir::Revoke(const std::string& cert_path) const {
  absl::StatusOr<std::string> pem = base::ReadFile(cert_path);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<CertificateInfo> info = InspectCertificatePem(*pem, cert_path);
  if (!info.ok()) return info.status();
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca = LoadCa();
  if (!ca.ok()) return ca.status();
  if (absl::Status s = (*ca)->CheckIssued(*pem, cert_path); !s.ok()) return s;
  std::string existing;
  if (base::FileExists(revoked_path())) {
    absl::StatusOr<std::string> r = base::ReadFile(revoked_path());
    if (!r.ok()) return r.status();
    existing = *std::move(r);
  }
  std::set<std::string> serials;
  for (absl::string_view line : absl::StrSplit(existing, '\n', absl::SkipWhitespace())) {
    serials.insert(std::string(absl::StripAsciiWhitespace(line)));
  }
  if (serials.insert(info->serial_hex).second) {
    std::string out;
    for (const std::string& s : serials) absl::StrAppend(&out, s, "\n");
    if (absl::Status s = base::WriteFileAtomic(revoked_path(), out, 0644); !s.ok()) return s;
  }
  if (absl::Status s = WriteCrl(); !s.ok()) return s;
  return info->serial_hex;
}

absl::Status PkiDir::SignCsr(const std::string& csr_path, const IssueOptions& options,
                             const std::string& out_path, bool force) const {
  if (!force && base::FileExists(out_path)) {
    return absl::AlreadyExistsError(
        absl::StrCat(out_path, " already exists (use --force to replace it)"));
  }
  absl::StatusOr<std::string> csr = base::ReadFile(csr_path);
  if (!csr.ok()) return csr.status();
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca = LoadCa();
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> cert = (*ca)->SignCsr(*csr, options);
  if (!cert.ok()) {
    return absl::Status(cert.status().code(),
                        absl::StrCat(csr_path, ": ", cert.status().message()));
  }
  return base::WriteFileAtomic(out_path, *cert, 0644);
}

absl::Status PkiDir::WriteCrl(absl::Duration validity) const {
  std::vector<std::string> serials;
  if (base::FileExists(revoked_path())) {
    absl::StatusOr<std::string> r = base::ReadFile(revoked_path());
    if (!r.ok()) return r.status();
    for (absl::string_view line : absl::StrSplit(*r, '\n', absl::SkipWhitespace())) {
      serials.emplace_back(absl::StripAsciiWhitespace(line));
    }
  }
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca = LoadCa();
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> crl = (*ca)->MakeCrl(serials, validity);
  if (!crl.ok()) return crl.status();
  return base::WriteFileAtomic(crl_path(), *crl, 0644);
}

}  // namespace nodegate::pki
