// What makes signature v1 replay protection survive a restart (docs/auth.md, "Replays across a
// restart"). The replay cache is memory only, so without this a call accepted before a restart
// passes again after it while its timestamp is inside ± max_skew.
//
// Two rules, both on the node's store (store::NonceStore):
//  - A lease: the node accepts signed calls only while a durably written `alive_until` covers
//    the current time, and renews it ahead of time. The next run refuses every signature dated
//    at or before the previous run's `alive_until` + `margin`. A restart right after a crash thus
//    refuses signed calls for about lease + margin; a first start, or one after a longer stop,
//    refuses nothing.
//  - A call dated more than `margin` ahead of the node's clock could still be after that floor,
//    so its nonce is written durably before the call is accepted and loaded back at start.
// With the store unavailable, signed calls fail closed (UNAVAILABLE), never pass unchecked.
#pragma once

#include <atomic>
#include <condition_variable>
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
  };

  // Reads the previous run's lease (→ floor()) and takes a first lease from `now`. `nonces` must
  // outlive the ledger.
  static absl::StatusOr<std::unique_ptr<ReplayLedger>> Open(store::NonceStore* nonces,
                                                            Options options, absl::Time now);
  // Stops renewing and, after a clean stop, shrinks the lease to the moment of stopping.
  ~ReplayLedger();

  // Signatures dated at or before this are refused (InfinitePast after a first start).
  absl::Time floor() const { return floor_; }
  absl::Duration margin() const { return options_.margin; }
  // True when the lease covers `now` (signed calls may be accepted).
  bool Covers(absl::Time now) const;
  // Extends the lease to now + lease. The error of the store, if the write failed.
  absl::Status Renew(absl::Time now);

  store::NonceStore& nonces() { return *nonces_; }

 private:
  ReplayLedger(store::NonceStore* nonces, Options options, absl::Time floor)
      : nonces_(nonces), options_(options), floor_(floor) {}
  void RenewLoop();

  store::NonceStore* const nonces_;
  const Options options_;
  const absl::Time floor_;
  std::atomic<int64_t> alive_until_ms_{0};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread renewer_;
};

}  // namespace nodegate::auth
