#include "store/postgres/pg_database.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/absl_view.h"
#include "store/postgres/pg_database_owner.h"
#include "store/postgres/pg_migrations.h"

namespace nodegate::store {

absl::StatusOr<std::shared_ptr<PgDatabase>> PgDatabase::Open(std::string_view url,
                                                             const Options& options) {
  absl::StatusOr<PgConnectParams> params = ConnectParamsFromUrl(url, options.limits);
  if (!params.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("store: postgres url: ", params.status().message()));
  }
  absl::StatusOr<std::unique_ptr<PgPool>> pool =
      PgPool::Create(*params, options.max_connections, options.acquire_timeout);
  if (!pool.ok()) return pool.status();
  int version = 0;
  {
    absl::StatusOr<PgPool::Lease> lease = (*pool)->Acquire();
    if (!lease.ok()) return lease.status();
    absl::StatusOr<int> applied = ApplyPgMigrations(**lease, options.migration_timeout);
    if (!applied.ok()) return applied.status();
    version = *applied;
    if (!options.node_id.empty()) {
      if (absl::Status s = ClaimPgDatabase(**lease, options.node_id, absl::Now()); !s.ok()) {
        return s;
      }
    }
  }
  return std::shared_ptr<PgDatabase>(new PgDatabase(*std::move(pool), *std::move(params), version));
}

PgDatabase::TransactionGuard::~TransactionGuard() {
  // A failed ROLLBACK means the connection is gone; the pool drops it, and the server rolls back.
  if (open_) connection_.Exec("ROLLBACK").IgnoreError();
}

absl::Status PgDatabase::TransactionGuard::Commit() {
  if (connection_.transaction_failed()) {
    // COMMIT would quietly roll back; say so instead of acknowledging.
    return absl::InternalError(absl::StrCat("store: postgres ", connection_.target(),
                                            ": transaction aborted by an earlier error"));
  }
  absl::Status s = connection_.Exec("COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

absl::Status PgDatabase::BumpGeneration(PgConnection& connection, std::string_view counter) {
  absl::StatusOr<PgResult> bump = connection.Execute(
      "UPDATE store_generation SET value = value + 1 WHERE name = $1", PgParams().Text(counter));
  if (!bump.ok()) return bump.status();
  if (bump->affected() != 1) {
    return absl::InternalError(absl::StrCat("store: postgres ", connection.target(),
                                            ": no change counter named ", AbslView(counter)));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PgDatabase::Generation(std::string_view counter) {
  absl::MutexLock lock(&watch_mu_);
  auto refresh = [&]() -> absl::Status {
    if (watch_ == nullptr || watch_->broken()) {
      watch_.reset();
      absl::StatusOr<std::unique_ptr<PgConnection>> c = PgConnection::Connect(params_);
      if (!c.ok()) return c.status();
      watch_ = *std::move(c);
    }
    absl::StatusOr<PgResult> rows = watch_->Execute("SELECT name, value FROM store_generation");
    if (!rows.ok()) return rows.status();
    std::map<std::string, uint64_t, std::less<>> fresh;
    for (int i = 0; i < rows->rows(); ++i) {
      fresh[rows->Bytes(i, 0)] = static_cast<uint64_t>(rows->Int(i, 1));
    }
    generations_ = std::move(fresh);
    return absl::OkStatus();
  };
  if (absl::Status s = refresh(); !s.ok()) {
    watch_.reset();  // whatever went wrong, the next call starts on a fresh connection
    return s;
  }
  auto it = generations_.find(counter);
  return it == generations_.end() ? 0 : it->second;
}

}  // namespace nodegate::store
