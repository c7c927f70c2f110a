#include "store/sqlite/database.h"

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/sqlite/migrations.h"

namespace nodegate::store {

absl::StatusOr<std::shared_ptr<Database>> Database::Open(const std::string& path, Options options) {
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Connection::Open(path, options.busy_timeout);
  if (!connection.ok()) return connection.status();
  absl::StatusOr<int> version = ApplyMigrations(**connection);
  if (!version.ok()) return version.status();
  absl::StatusOr<std::unique_ptr<Connection>> watch = Connection::Open(path, options.busy_timeout);
  if (!watch.ok()) return watch.status();
  return std::shared_ptr<Database>(
      new Database(path, *std::move(connection), *std::move(watch), *version));
}

Database::TransactionGuard::~TransactionGuard() {
  // A failed ROLLBACK leaves nothing better to do; SQLite rolls back on the next BEGIN's failure
  // path or on close.
  if (open_) connection_.Exec("ROLLBACK").IgnoreError();
}

absl::Status Database::TransactionGuard::Begin(const char* begin_sql) {
  absl::Status s = connection_.Exec(begin_sql);
  open_ = s.ok();
  return s;
}

absl::Status Database::TransactionGuard::Commit() {
  absl::Status s = connection_.Exec("COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

absl::Status Database::BumpGeneration(Connection& connection, std::string_view counter) {
  absl::StatusOr<Statement> bump =
      connection.Prepare("UPDATE store_generation SET value = value + 1 WHERE name = ?1");
  if (!bump.ok()) return bump.status();
  if (absl::Status s = bump->BindText(1, counter).Run(); !s.ok()) return s;
  if (connection.Changes() != 1) {
    return absl::InternalError(absl::StrCat("store: ", connection.path(),
                                            ": no change counter named ", AbslView(counter)));
  }
  return absl::OkStatus();
}

absl::Status Database::RefreshGenerationsLocked() {
  // data_version changes when another connection commits; only then re-read the counters.
  absl::StatusOr<Statement> version = watch_->Prepare("PRAGMA data_version");
  if (!version.ok()) return version.status();
  absl::StatusOr<bool> row = version->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError("store: PRAGMA data_version returned no row");
  int64_t data_version = version->ColumnInt(0);
  if (watched_ && data_version == data_version_) return absl::OkStatus();

  absl::StatusOr<Statement> select = watch_->Prepare("SELECT name, value FROM store_generation");
  if (!select.ok()) return select.status();
  std::map<std::string, uint64_t, std::less<>> fresh;
  while (true) {
    absl::StatusOr<bool> next = select->Step();
    if (!next.ok()) return next.status();
    if (!*next) break;
    fresh[select->ColumnText(0)] = static_cast<uint64_t>(select->ColumnInt(1));
  }
  generations_ = std::move(fresh);
  data_version_ = data_version;
  watched_ = true;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Database::Generation(std::string_view counter) {
  absl::MutexLock lock(&watch_mu_);
  if (absl::Status s = RefreshGenerationsLocked(); !s.ok()) return s;
  auto it = generations_.find(counter);
  return it == generations_.end() ? 0 : it->second;
}

}  // namespace nodegate::store
