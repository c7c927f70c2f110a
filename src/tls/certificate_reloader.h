// Watches the configured TLS files and publishes each new, *validated* set into a private "live"
// directory that gRPC's FileWatcherCertificateProvider reads.
//
// Why the indirection: gRPC's watcher reads whatever is on disk. An operator who replaces key and
// cert one after the other (or writes a broken pair) would break every new handshake until the
// next refresh. Here a set is validated first (pki parse, key matches cert, chain, expiry, CRL
// signer) and only then published as a new generation directory, switched in with one atomic
// symlink rename. The CA file of every generation carries a generation comment, so a change of the
// CRL alone still changes a watched file — gRPC 1.51 only re-reads its CRL directory when it builds
// a new handshaker factory, which it does when a watched file changes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "tls/credential_set.h"

namespace nodegate::tls {

class CertificateReloader {
 public:
  struct Options {
    TlsFiles files;
    std::string live_dir;  // created if absent; owned by the reloader
    // gRPC's watcher period over the live files; at least 1 s (gRPC 1.51 would spin on 0).
    absl::Duration interval = absl::Seconds(1);
    // How often the source files are stat()ed. Kept short so that the two stages together stay
    // near `interval`: a change is live for new handshakes within poll + interval.
    absl::Duration poll = absl::Milliseconds(200);
    // What "now" is for certificate validity, and what the polling waits on. Not owned; must
    // outlive the reloader. Tests pass a testlib::ManualClock.
    base::Clock* clock = &base::Clock::Real();
    // Hosts the node's TLS listeners bind (wildcards skipped). A certificate that goes live
    // without naming one of them is logged as a warning: it serves, but a client dialling that
    // host fails to verify it.
    std::vector<std::string> listen_hosts;
  };

  // Validates and publishes the initial set synchronously (any error is a start-up error), then
  // polls in a background thread.
  static absl::StatusOr<std::unique_ptr<CertificateReloader>> Start(const Options& options);
  ~CertificateReloader();

  // Re-checks the files now (SIGHUP). Returns the validation error if the new set was refused.
  absl::Status CheckNow();

  std::shared_ptr<const CredentialSet> current() const;
  bool has_ca() const { return has_ca_; }
  bool has_crl() const { return has_crl_; }
  // Paths for gRPC's watcher; they go through the `current` symlink.
  std::string key_path() const { return live_dir_ + "/current/key.pem"; }
  std::string cert_path() const { return live_dir_ + "/current/cert.pem"; }
  std::string ca_path() const { return live_dir_ + "/current/ca.pem"; }
  std::string crl_dir() const { return live_dir_ + "/current/crl"; }
  unsigned refresh_interval_sec() const;

  uint64_t reloads_ok() const { return reloads_ok_.load(); }
  uint64_t reloads_failed() const { return reloads_failed_.load(); }

 private:
  explicit CertificateReloader(const Options& options);
  absl::Status Publish(const CredentialSet& set);
  absl::Status CheckLocked();
  void Run();

  const Options options_;
  const std::string live_dir_;
  const bool has_ca_;
  const bool has_crl_;
  base::Clock& clock_;
  absl::Notification stop_;
  mutable std::mutex mu_;
  std::shared_ptr<const CredentialSet> current_;
  std::string last_refused_digest_;  // log a refused set once, not every poll
  std::string last_stat_signature_;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
  std::thread thread_;
};

}  // namespace nodegate::tls
