#include "tls/certificate_reloader.h"

#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/files.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"
#include "spdlog/spdlog.h"

namespace nodegate::tls {
namespace {

// Cheap change detector: inode, size and mtime of every configured file.
std::string StatSignature(const TlsFiles& f) {
  std::string sig;
  for (const std::string* path : {&f.cert, &f.key, &f.ca, &f.crl}) {
    struct stat st {};
    if (path->empty() || ::stat(path->c_str(), &st) != 0) {
      sig += "-;";
      continue;
    }
    absl::StrAppend(&sig, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, ";");
  }
  return sig;
}

// One warning per listen host `set`'s leaf does not name.
void WarnUnnamedHosts(const CredentialSet& set, const std::vector<std::string>& hosts,
                      const std::string& cert_path) {
  if (hosts.empty()) return;
  absl::StatusOr<std::vector<crypto::X509Ptr>> chain =
      pki::ParseCertificates(set.cert_chain_pem, cert_path);
  if (!chain.ok() || chain->empty()) return;
  for (const std::string& host : hosts) {
    if (pki::IsWildcardHost(host) || pki::CertificateNamesHost(chain->front().get(), host)) {
      continue;
    }
    std::vector<std::string> names;
    for (const std::string& san : set.leaf.sans) {
      if (san.rfind("DNS:", 0) == 0 || san.rfind("IP:", 0) == 0) names.push_back(san);
    }
    spdlog::warn(
        "tls: {} (serial {}) does not name {}, the host this node listens on (it names: {}): "
        "clients that dial {} fail to verify it; reissue it with --san {}",
        cert_path, set.leaf.serial_hex, host,
        names.empty() ? "nothing" : absl::StrJoin(names, ", "), host, host);
  }
}

}  // namespace

CertificateReloader::CertificateReloader(const Options& options)
    : options_(options),
      live_dir_(options.live_dir),
      has_ca_(!options.files.ca.empty()),
      has_crl_(!options.files.crl.empty()),
      clock_(*options.clock) {}

absl::StatusOr<std::unique_ptr<CertificateReloader>> CertificateReloader::Start(
    const Options& options) {
  if (options.interval < absl::Seconds(1) || options.interval > absl::Hours(24)) {
    // gRPC 1.51 does not clamp a 0 s refresh: it would spin a core re-reading the key file.
    return absl::InvalidArgumentError("tls.reload_interval: must be in 1s..24h");
  }
  if (options.poll < absl::Milliseconds(10)) {
    return absl::InvalidArgumentError("tls reloader: source poll must be at least 10ms");
  }
  if (options.clock == nullptr) return absl::InvalidArgumentError("tls reloader: no clock");
  std::unique_ptr<CertificateReloader> r(new CertificateReloader(options));
  if (absl::Status s = base::MakeDirs(r->live_dir_, 0700); !s.ok()) return s;
  ::chmod(r->live_dir_.c_str(), 0700);
  r->last_stat_signature_ = StatSignature(options.files);
  absl::StatusOr<CredentialSet> set = LoadCredentialSet(options.files, r->clock_.Now());
  if (!set.ok()) return set.status();
  if (absl::Status s = r->Publish(*set); !s.ok()) return s;
  WarnUnnamedHosts(*set, options.listen_hosts, options.files.cert);
  r->current_ = std::make_shared<const CredentialSet>(*std::move(set));
  r->thread_ = std::thread([raw = r.get()] { raw->Run(); });
  return r;
}

CertificateReloader::~CertificateReloader() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

unsigned CertificateReloader::refresh_interval_sec() const {
  return static_cast<unsigned>(std::max<int64_t>(1, absl::ToInt64Seconds(options_.interval)));
}

std::shared_ptr<const CredentialSet> CertificateReloader::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

absl::Status CertificateReloader::CheckNow() {
  std::lock_guard<std::mutex> lock(mu_);
  last_stat_signature_.clear();  // force a content comparison
  return CheckLocked();
}

absl::Status CertificateReloader::CheckLocked() {
  std::string sig = StatSignature(options_.files);
  if (sig == last_stat_signature_) return absl::OkStatus();
  absl::StatusOr<CredentialSet> set = LoadCredentialSet(options_.files, clock_.Now());
  if (!set.ok()) {
    // A half-written rotation (key replaced, cert not yet) lands here; keep the stat signature
    // unchanged so the next poll looks again, but log each distinct failure once.
    std::string key = std::string(std::string(set.status().message()));
    if (key != last_refused_digest_) {
      last_refused_digest_ = key;
      reloads_failed_.fetch_add(1);
      spdlog::error("tls reload refused, still serving serial {}: {}", current_->leaf.serial_hex,
                    std::string(set.status().message()));
    }
    return set.status();
  }
  last_stat_signature_ = sig;
  last_refused_digest_.clear();  // the files are valid again: a later failure is a new event
  if (set->content_digest == current_->content_digest) return absl::OkStatus();
  if (absl::Status s = Publish(*set); !s.ok()) {
    reloads_failed_.fetch_add(1);
    spdlog::error("tls reload: publishing failed: {}", std::string(s.message()));
    return s;
  }
  last_refused_digest_.clear();
  reloads_ok_.fetch_add(1);
  spdlog::info("tls reloaded: serial {} -> {} (subject {}, expires {})", current_->leaf.serial_hex,
               set->leaf.serial_hex, set->leaf.subject,
               absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", set->leaf.not_after, absl::UTCTimeZone()));
  WarnUnnamedHosts(*set, options_.listen_hosts, options_.files.cert);
  current_ = std::make_shared<const CredentialSet>(*std::move(set));
  return absl::OkStatus();
}

void CertificateReloader::Run() {
  const absl::Duration period = std::min(options_.poll, options_.interval);
  while (!clock_.WaitForNotificationWithTimeout(stop_, period)) {
    std::lock_guard<std::mutex> lock(mu_);
    (void)CheckLocked();
  }
}

absl::Status CertificateReloader::Publish(const CredentialSet& set) {
  ++generation_;
  const std::string gen_name = absl::StrCat("gen-", generation_, "-", ::getpid());
  const std::string gen_dir = absl::StrCat(live_dir_, "/", gen_name);
  std::error_code ec;
  std::filesystem::remove_all(gen_dir, ec);
  if (absl::Status s = base::MakeDirs(gen_dir, 0700); !s.ok()) return s;
  if (absl::Status s = base::WriteFileAtomic(gen_dir + "/key.pem", set.key_pem, 0600); !s.ok())
    return s;
  if (absl::Status s = base::WriteFileAtomic(gen_dir + "/cert.pem", set.cert_chain_pem, 0644);
      !s.ok())
    return s;
  // The comment makes every generation's CA file distinct (see the header): PEM readers skip
  // text outside BEGIN/END blocks.
  std::string ca = absl::StrCat("# nodegate live generation ", gen_name, " ", set.content_digest,
                                "\n", set.ca_pem);
  if (absl::Status s = base::WriteFileAtomic(gen_dir + "/ca.pem", ca, 0644); !s.ok()) return s;
  if (absl::Status s = base::MakeDirs(gen_dir + "/crl", 0700); !s.ok()) return s;
  if (!set.crl_pem.empty()) {
    // OpenSSL's hashed-directory lookup wants <issuer-hash>.r<N> (what `openssl rehash` makes).
    auto crls = pki::ParseCrls(set.crl_pem, options_.files.crl);
    if (!crls.ok()) return crls.status();
    std::map<unsigned long, int> seen;
    for (auto& crl : *crls) {
      unsigned long h =
          X509_NAME_hash_ex(X509_CRL_get_issuer(crl.get()), nullptr, nullptr, nullptr);
      auto pem = pki::CrlToPem(crl.get());
      if (!pem.ok()) return pem.status();
      std::string name = absl::StrFormat("%s/crl/%08lx.r%d", gen_dir, h, seen[h]++);
      if (absl::Status s = base::WriteFileAtomic(name, *pem, 0644); !s.ok()) return s;
    }
  }
  // Atomic switch: a new symlink renamed over `current`.
  const std::string tmp_link = absl::StrCat(live_dir_, "/current.tmp");
  ::unlink(tmp_link.c_str());
  if (::symlink(gen_name.c_str(), tmp_link.c_str()) != 0 ||
      ::rename(tmp_link.c_str(), (live_dir_ + "/current").c_str()) != 0) {
    return absl::InternalError(absl::StrCat(live_dir_, ": switching the live symlink failed"));
  }
  // Keep the previous generation (gRPC may be mid-read); remove anything older.
  for (const auto& entry : std::filesystem::directory_iterator(live_dir_, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("gen-", 0) != 0 || name == gen_name) continue;
    uint64_t n = std::strtoull(name.c_str() + 4, nullptr, 10);
    if (n + 1 < generation_ || name.find(absl::StrCat("-", ::getpid())) == std::string::npos) {
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
  return absl::OkStatus();
}

}  // namespace nodegate::tls
