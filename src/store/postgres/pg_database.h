// A nodegate PostgreSQL database: a bounded connection pool, every statement bounded by a
// server-side statement_timeout, and the schema migrated on open (exactly once however many
// replicas open it at the same moment). Thread-safe; shared by the Postgres* stores through
// std::shared_ptr, and by any number of processes on any number of hosts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_pool.h"

namespace nodegate::store {

class PgDatabase {
 public:
  struct Options {
    int max_connections = 4;
    // How long a caller waits for a free connection before UNAVAILABLE.
    absl::Duration acquire_timeout = absl::Seconds(5);
    PgSessionLimits limits;
    // Migrations may legitimately take longer than one statement, and replicas wait for the one
    // that applies them.
    absl::Duration migration_timeout = absl::Seconds(60);
    // The node this database belongs to (the config's node.id). When set, Open records it in a
    // database that records no node yet and refuses one recorded for another node
    // (store/postgres/pg_database_owner.h). Empty: not checked, as for a tool without a node.
    std::string node_id;
  };

  // Connects, and applies pending migrations under an advisory lock. INVALID_ARGUMENT for a bad
  // url (or one with a password), UNAVAILABLE if the server cannot be reached, FAILED_PRECONDITION
  // if the database's schema is newer than this build knows or belongs to another node than
  // options.node_id.
  static absl::StatusOr<std::shared_ptr<PgDatabase>> Open(std::string_view url,
                                                          const Options& options);
  static absl::StatusOr<std::shared_ptr<PgDatabase>> Open(std::string_view url) {
    return Open(url, Options());
  }

  int schema_version() const { return schema_version_; }

  // Runs body(PgConnection&) -> Status or StatusOr<T> in a READ COMMITTED transaction, committed
  // if the body returns OK and rolled back otherwise (also if it throws). OK means committed.
  template <typename Body>
  std::invoke_result_t<Body&, PgConnection&> Write(Body&& body) {
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<PgPool::Lease> lease = pool_->Acquire();
      if (!lease.ok()) return lease.status();
      PgConnection& c = **lease;
      if (absl::Status s = c.Exec("BEGIN"); !s.ok()) {
        // An idle pooled connection whose server went away: nothing was done, try a fresh one
        // (the other idle connections went with it).
        if (c.broken() && attempt == 0) {
          pool_->DiscardIdle();
          continue;
        }
        return s;
      }
      TransactionGuard guard(c);
      auto result = body(c);
      if (!result.ok()) return result;
      if (absl::Status s = guard.Commit(); !s.ok()) return s;
      return result;
    }
  }

  // Runs body(PgConnection&) outside a transaction block: each statement sees its own snapshot.
  // For reads only; retried once on a fresh connection if the pooled one had gone stale.
  template <typename Body>
  std::invoke_result_t<Body&, PgConnection&> Read(Body&& body) {
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<PgPool::Lease> lease = pool_->Acquire();
      if (!lease.ok()) return lease.status();
      auto result = body(**lease);
      if (!result.ok() && (*lease)->broken() && attempt == 0) {
        pool_->DiscardIdle();
        continue;
      }
      return result;
    }
  }

  // Increments the named change counter ("nodes", "credentials"); call inside Write so that the
  // change and the bump commit together.
  static absl::Status BumpGeneration(PgConnection& connection, std::string_view counter);
  // The counter as committed by any replica. Runs on a connection of its own, so it never waits
  // for the pool; a read never waits for a writer in PostgreSQL. If the database cannot be read,
  // the error (UNAVAILABLE when the server is unreachable); the next call reconnects.
  absl::StatusOr<uint64_t> Generation(std::string_view counter) ABSL_LOCKS_EXCLUDED(watch_mu_);

 private:
  PgDatabase(std::unique_ptr<PgPool> pool, PgConnectParams params, int schema_version)
      : pool_(std::move(pool)), params_(std::move(params)), schema_version_(schema_version) {}

  // Rolls back unless Commit succeeded.
  class TransactionGuard {
   public:
    explicit TransactionGuard(PgConnection& connection) : connection_(connection) {}
    ~TransactionGuard();
    TransactionGuard(const TransactionGuard&) = delete;
    TransactionGuard& operator=(const TransactionGuard&) = delete;
    absl::Status Commit();

   private:
    PgConnection& connection_;
    bool open_ = true;
  };

  const std::unique_ptr<PgPool> pool_;
  const PgConnectParams params_;
  const int schema_version_;

  absl::Mutex watch_mu_;
  std::unique_ptr<PgConnection> watch_ ABSL_GUARDED_BY(watch_mu_);
  std::map<std::string, uint64_t, std::less<>> generations_ ABSL_GUARDED_BY(watch_mu_);
};

}  // namespace nodegate::store
