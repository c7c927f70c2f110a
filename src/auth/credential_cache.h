// An immutable in-memory snapshot of every credential the authenticators check (node keys with
// parsed verifiers, token hashes, app keys), swapped atomically when the store changes. The
// per-call path reads only this snapshot: no database access, no lock held across a call.
// While the store cannot be read the last good snapshot stays, but only for a bounded time: its
// age (since the store last confirmed it) is kept, and past `max_age` CheckFresh() fails, so that
// callers refuse what the snapshot would decide rather than decide it from stale data.
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
  // Grows whenever the credentials change (never decreases); cheap. An error: the source could not
  // be read, so nothing is known about changes (the cache's snapshot is then no longer confirmed).
  virtual absl::StatusOr<uint64_t> Generation() = 0;
  virtual absl::StatusOr<CredentialSnapshot> Load() = 0;
};

class CredentialCache {
 public:
  // Loads the first snapshot (an error is a start-up error), then polls the source's generation
  // every `poll` of `clock` in a background thread. `poll` zero = no thread (tests call
  // Refresh()). `clock` must outlive the cache. `max_age` (positive; `auth.credential_max_age` on
  // a node) bounds how long the snapshot may go unconfirmed before CheckFresh() fails; infinite
  // (library users without a bound) never fails.
  static absl::StatusOr<std::unique_ptr<CredentialCache>> Start(
      std::shared_ptr<CredentialSource> source, absl::Duration poll,
      base::Clock& clock = base::Clock::Real(), absl::Duration max_age = absl::InfiniteDuration());
  ~CredentialCache();

  // Lock-free in steady state: each thread keeps its own reference to the current snapshot and
  // only takes the (uncontended) mutex when the version moved. (std::atomic_load on a shared_ptr
  // would take a lock from libstdc++'s global mutex pool on every call.)
  std::shared_ptr<const CredentialSnapshot> snapshot() const;
  // Reloads now if the generation moved (or `force`). In-process writers call this right after a
  // write so that, e.g., a disabled node is refused at once.
  // Confirming counts as well as loading: a generation read that shows no change proves the
  // snapshot current. A failed read or load leaves the snapshot (and its age) as it was.
  absl::Status Refresh(bool force = false);

  // Time since the source last confirmed the snapshot (a generation read that showed no change,
  // or a load), on the cache's clock; not the time since the credentials last changed. With a
  // healthy source it stays below the poll interval.
  absl::Duration age() const;
  absl::Duration max_age() const { return max_age_; }
  // OK while age() <= max_age(); else UNAVAILABLE naming the age and the bound. What the
  // authorizer refuses calls with, and what /readyz reports.
  absl::Status CheckFresh() const;
  // The source generation the current snapshot was loaded at (read before the load, so the
  // snapshot holds at least every change up to it). 0 before the first load.
  uint64_t generation() const { return loaded_generation_.load(std::memory_order_acquire); }
  // Refreshes (polls and forced ones) that could not read the source, since start.
  uint64_t refresh_failures() const { return refresh_failures_.load(std::memory_order_relaxed); }

 private:
  CredentialCache(std::shared_ptr<CredentialSource> source, base::Clock& clock,
                  absl::Duration max_age)
      : source_(std::move(source)), clock_(clock), max_age_(max_age) {}
  void Run(absl::Duration poll);
  int64_t SteadyNanos() const;

  std::shared_ptr<CredentialSource> source_;
  base::Clock& clock_;
  const absl::Duration max_age_;
  // Steady-clock time (ns) at which the source was last read and matched the snapshot: taken just
  // before that read, so the age never undercounts.
  std::atomic<int64_t> confirmed_at_{0};
  std::atomic<uint64_t> refresh_failures_{0};
  mutable std::mutex snapshot_mu_;
  std::shared_ptr<const CredentialSnapshot> snapshot_;  // guarded by snapshot_mu_
  // Unique across all caches in the process, so a thread's cached copy can never be mistaken for
  // another cache's (or an earlier one at the same address).
  std::atomic<uint64_t> version_{0};
  std::mutex refresh_mu_;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> loaded_generation_{0};
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace nodegate::auth
