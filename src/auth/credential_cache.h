// An immutable in-memory snapshot of every credential the authenticators check (node keys with
// parsed verifiers, token hashes, app keys), swapped atomically when the store changes. The
// per-call path reads only this snapshot: no database access, no lock held across a call.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "auth/principal.h"
#include "base/clock.h"
#include "crypto/verifier.h"

namespace nodegate::auth {

struct NodeCredential {
  std::string id;
  bool enabled = true;
  std::vector<std::string> roles;
  std::string cert_serial;  // of the certificate the registry issued last; empty when none
  std::shared_ptr<const crypto::Verifier> verifier;           // current key
  std::shared_ptr<const crypto::Verifier> previous_verifier;  // during a rotation's grace only
  absl::Time previous_valid_until = absl::InfinitePast();
};

struct TokenCredential {
  std::string hash;  // raw SHA-256 of the token (32 bytes)
  Principal::Kind kind = Principal::Kind::kUser;
  std::string principal;
  std::vector<std::string> roles;
  absl::Time expires_at = absl::InfiniteFuture();
};

struct AppCredential {
  std::string secret_hash;  // raw SHA-256 of the secret (32 bytes)
  std::string principal;
  std::vector<std::string> roles;
  bool enabled = true;
};

struct CredentialSnapshot {
  absl::flat_hash_map<std::string, NodeCredential> nodes;    // by node id
  absl::flat_hash_map<std::string, TokenCredential> tokens;  // by raw token hash
  absl::flat_hash_map<std::string, AppCredential> apps;      // by app key
};

// Where snapshots come from (the store, in production).
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // Changes whenever the credentials change; cheap.
  virtual uint64_t Generation() = 0;
  virtual absl::StatusOr<CredentialSnapshot> Load() = 0;
};

class CredentialCache {
 public:
  // Loads the first snapshot (an error is a start-up error), then polls the source's generation
  // every `poll` of `clock` in a background thread. `poll` zero = no thread (tests call
  // Refresh()). `clock` must outlive the cache.
  static absl::StatusOr<std::unique_ptr<CredentialCache>> Start(
      std::shared_ptr<CredentialSource> source, absl::Duration poll,
      base::Clock& clock = base::Clock::Real());
  ~CredentialCache();

  // Lock-free in steady state: each thread keeps its own reference to the current snapshot and
  // only takes the (uncontended) mutex when the version moved. (std::atomic_load on a shared_ptr
  // would take a lock from libstdc++'s global mutex pool on every call.)
  std::shared_ptr<const CredentialSnapshot> snapshot() const;
  // Reloads now if the generation moved (or `force`). In-process writers call this right after a
  // write so that, e.g., a disabled node is refused at once.
  absl::Status Refresh(bool force = false);

 private:
  CredentialCache(std::shared_ptr<CredentialSource> source, base::Clock& clock)
      : source_(std::move(source)), clock_(clock) {}
  void Run(absl::Duration poll);

  std::shared_ptr<CredentialSource> source_;
  base::Clock& clock_;
  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const CredentialSnapshot> snapshot_;  // guarded by snapshot_mu_
  // Unique across all caches in the process, so a thread's cached copy can never be mistaken for
  // another cache's (or an earlier one at the same address).
  std::atomic<uint64_t> version_{0};
  std::mutex refresh_mu_;
  uint64_t generation_ = 0;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace nodegate::auth
