// What makes signature v1 replay protection survive a restart, and hold across the replicas of a
// fleet (docs/auth.md, "Replays across a restart" and "Replays across replicas"). The replay
// cache is memory only and per process, so without this a call accepted before a restart, or by
// another replica, passes again while its timestamp is inside ± max_skew.
//
// A single node (its own SQLite store) keeps two rules on store::NonceStore:
//  - A lease: the node accepts signed calls only while a durably written `alive_until` covers
//    the current time, and renews it ahead of time. The next run refuses every signature dated
//    at or before the previous run's `alive_until` + `margin`. A restart right after a crash thus
//    refuses signed calls for about lease + margin; a first start, or one after a longer stop,
//    refuses nothing.
//  - A call dated more than `margin` ahead of the node's clock could still be after that floor,
//    so its nonce is written durably before the call is accepted and loaded back at start.
// A fleet (`shared`: every replica on one PostgreSQL store) records every accepted nonce in the
// shared store before the call is let in; the primary key on (node_id, nonce) makes exactly one
// replica's write succeed. That one mechanism covers replicas and restarts alike, so the lease
// is not used. Concurrent calls are written together, group-commit style: one transaction per
// batch, with no added wait (a batch is what queued while the previous one was committing).
// With the store unavailable, signed calls fail closed (UNAVAILABLE), never pass unchecked.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/nonce_store.h"

namespace nodegate::auth {

class ReplayLedger {
 public:
  struct Options {
    absl::Duration margin = absl::Seconds(1);
    // How far ahead each renewal sets alive_until; renewed every lease / 3. Zero: no renewal
    // thread (tests call Renew() with their own clock).
    absl::Duration lease = absl::Seconds(2);
    // Replicas share the store: record every accepted nonce there (see above); no lease.
    bool shared = false;
    // Most records written in one transaction.
    size_t max_batch = 256;
  };

  struct Stats {
    uint64_t batches = 0;   // transactions written
    uint64_t records = 0;   // nonces in them
    uint64_t failures = 0;  // batches the store refused (their calls failed closed)
    uint64_t waiting = 0;   // calls queued for the next batch right now
  };

  // Reads the previous run's lease (→ floor()) and takes a first lease from `now`. `nonces` must
  // outlive the ledger.
  static absl::StatusOr<std::unique_ptr<ReplayLedger>> Open(store::NonceStore* nonces,
                                                            Options options, absl::Time now);
  // Stops renewing and, after a clean stop, shrinks the lease to the moment of stopping. Calls
  // still waiting for a batch get UNAVAILABLE.
  ~ReplayLedger();

  // Signatures dated at or before this are refused (InfinitePast after a first start).
  absl::Time floor() const { return floor_; }
  absl::Duration margin() const { return options_.margin; }
  // True when the lease covers `now` (signed calls may be accepted).
  bool Covers(absl::Time now) const;
  // Extends the lease to now + lease. The error of the store, if the write failed.
  absl::Status Renew(absl::Time now);
  bool shared() const { return options_.shared; }

  // Records the nonce of a call about to be accepted, durably, in the next batch, and calls
  // `done` once, on the ledger's writer thread, after the batch committed (or at once, on this
  // thread, when the ledger is stopping): OK when the nonce was new, ALREADY_EXISTS when any run
  // or replica recorded it before, another error (the store's) when the batch could not be
  // written. `done` must not block: the next batch waits for it. Thread-safe.
  using SpendDone = std::function<void(absl::Status)>;
  void SpendAsync(store::NonceRecord record, absl::Time now, SpendDone done);
  // SpendAsync, waiting for the result.
  absl::Status Spend(store::NonceRecord record, absl::Time now);
  Stats stats() const;

  store::NonceStore& nonces() { return *nonces_; }

 private:
  ReplayLedger(store::NonceStore* nonces, Options options, absl::Time floor)
      : nonces_(nonces), options_(options), floor_(floor) {}
  void RenewLoop();
  struct Pending {
    store::NonceRecord record;
    SpendDone done;
  };
  void BatchLoop();

  store::NonceStore* const nonces_;
  const Options options_;
  const absl::Time floor_;
  std::atomic<int64_t> alive_until_ms_{0};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread renewer_;

  mutable std::mutex batch_mu_;
  std::condition_variable batch_cv_;             // the writer: work queued, or stop
  std::deque<Pending> queue_;                    // waiting for the writer
  absl::Time queue_now_ = absl::InfinitePast();  // latest `now` of the queued calls
  bool batch_stop_ = false;
  mutable std::mutex stats_mu_;
  Stats stats_;  // guarded by stats_mu_
  std::thread writer_;
};

}  // namespace nodegate::auth
