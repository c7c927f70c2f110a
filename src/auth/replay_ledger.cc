#include "auth/replay_ledger.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace nodegate::auth {

absl::StatusOr<std::unique_ptr<ReplayLedger>> ReplayLedger::Open(store::NonceStore* nonces,
                                                                 Options options, absl::Time now) {
  if (nonces == nullptr) return absl::InvalidArgumentError("replay ledger: no nonce store");
  if (options.margin < absl::ZeroDuration() || options.lease < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("replay ledger: margin and lease must not be negative");
  }
  absl::StatusOr<absl::Time> previous = nonces->AliveUntil();
  if (!previous.ok()) {
    return absl::Status(
        previous.status().code(),
        absl::StrCat("auth: cannot read the signature lease: ", previous.status().message()));
  }
  const absl::Time floor =
      *previous == absl::InfinitePast() ? absl::InfinitePast() : *previous + options.margin;
  std::unique_ptr<ReplayLedger> ledger(new ReplayLedger(nonces, options, floor));
  if (absl::Status s = ledger->Renew(now); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("auth: cannot write the signature lease: ", s.message()));
  }
  if (options.lease > absl::ZeroDuration()) {
    ledger->renewer_ = std::thread([raw = ledger.get()] { raw->RenewLoop(); });
  }
  return ledger;
}

ReplayLedger::~ReplayLedger() {
  if (!renewer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  renewer_.join();
  // Nothing is accepted after this point (the node is shutting down): the next run's floor can
  // be now instead of the end of the lease.
  const absl::Time now = absl::Now();
  alive_until_ms_.store(absl::ToUnixMillis(now));
  nonces_->SetAliveUntil(now).IgnoreError();
}

bool ReplayLedger::Covers(absl::Time now) const {
  return absl::ToUnixMillis(now) < alive_until_ms_.load(std::memory_order_acquire);
}

absl::Status ReplayLedger::Renew(absl::Time now) {
  const absl::Time until = now + options_.lease;
  // Durable first: the lease in memory never runs ahead of the one on disk.
  if (absl::Status s = nonces_->SetAliveUntil(until); !s.ok()) return s;
  alive_until_ms_.store(absl::ToUnixMillis(until), std::memory_order_release);
  return absl::OkStatus();
}

void ReplayLedger::RenewLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.lease / 3),
                            [this] { return stop_; })) {
    lock.unlock();
    if (absl::Status s = Renew(absl::Now()); !s.ok()) {
      spdlog::error("signature lease not renewed (signed calls fail until it is): {}",
                    std::string(s.message()));
    }
    lock.lock();
  }
}

}  // namespace nodegate::auth
