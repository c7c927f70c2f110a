// A bounded pool of PostgreSQL connections. Acquire blocks until a connection is free or may be
// opened, at most acquire_timeout; connections are opened lazily, and one that broke (server
// restart, network) is dropped when it comes back, so the pool reconnects by itself on the next
// Acquire. Thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/postgres/pg_connection.h"

namespace nodegate::store {

class PgPool {
 public:
  // A connection lent to one thread; goes back to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), connection_(std::move(other.connection_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection& operator*() const { return *connection_; }
    PgConnection* operator->() const { return connection_.get(); }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<PgConnection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    PgPool* pool_;
    std::unique_ptr<PgConnection> connection_;
  };

  // max_connections >= 1 and acquire_timeout > 0 (else INVALID_ARGUMENT).
  static absl::StatusOr<std::unique_ptr<PgPool>> Create(PgConnectParams params, int max_connections,
                                                        absl::Duration acquire_timeout);

  // UNAVAILABLE if no connection could be had within acquire_timeout or the server cannot be
  // reached.
  absl::StatusOr<Lease> Acquire() ABSL_LOCKS_EXCLUDED(mu_);
  // Closes every idle connection, for a caller that found one broken: a server restart or
  // failover ends them all alike, and libpq notices only when each is next used, so without this
  // the next callers would each meet one of them and fail although the server is back.
  void DiscardIdle() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  PgPool(PgConnectParams params, int max_connections, absl::Duration acquire_timeout)
      : params_(std::move(params)),
        max_connections_(max_connections),
        acquire_timeout_(acquire_timeout) {}
  void Release(std::unique_ptr<PgConnection> connection) ABSL_LOCKS_EXCLUDED(mu_);

  const PgConnectParams params_;
  const int max_connections_;
  const absl::Duration acquire_timeout_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + lent + being opened
};

}  // namespace nodegate::store
