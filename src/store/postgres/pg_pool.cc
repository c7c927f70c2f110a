#include "store/postgres/pg_pool.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace nodegate::store {

PgPool::Lease::~Lease() {
  if (connection_ != nullptr) pool_->Release(std::move(connection_));
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Create(PgConnectParams params, int max_connections,
                                                       absl::Duration acquire_timeout) {
  if (max_connections < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store: postgres pool: max_connections must be at least 1, got ", max_connections));
  }
  if (acquire_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("store: postgres pool: acquire_timeout must be positive");
  }
  return std::unique_ptr<PgPool>(new PgPool(std::move(params), max_connections, acquire_timeout));
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < max_connections_;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&available), acquire_timeout_)) {
      return absl::UnavailableError(absl::StrCat("store: postgres: all ", max_connections_,
                                                 " connections busy for ",
                                                 absl::FormatDuration(acquire_timeout_),
                                                 " (raise the pool size or find the slow caller)"));
    }
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
    ++open_;  // reserve the slot; connect without holding the lock
  }
  absl::StatusOr<std::unique_ptr<PgConnection>> c = PgConnection::Connect(params_);
  if (!c.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return c.status();
  }
  return Lease(this, *std::move(c));
}

void PgPool::DiscardIdle() {
  std::vector<std::unique_ptr<PgConnection>> discarded;
  {
    absl::MutexLock lock(&mu_);
    discarded.swap(idle_);
    open_ -= static_cast<int>(discarded.size());
  }
  // Closed here, outside the lock.
}

void PgPool::Release(std::unique_ptr<PgConnection> connection) {
  // A connection that broke, or was left inside a transaction, is not handed out again.
  const bool reusable = !connection->broken() && !connection->in_transaction();
  if (!reusable) connection.reset();
  absl::MutexLock lock(&mu_);
  if (reusable) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
}

}  // namespace nodegate::store
