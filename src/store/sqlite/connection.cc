#include "store/sqlite/connection.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "store/absl_view.h"

namespace nodegate::store {
namespace {

absl::StatusCode CodeFor(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CORRUPT:
      return absl::StatusCode::kDataLoss;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kFailedPrecondition;
    default:
      break;
  }
  switch (rc & 0xff) {  // primary code of an extended one
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
      return absl::StatusCode::kDataLoss;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kInternal;
  }
}

std::string OpenError(const std::string& path, sqlite3* db, int rc, std::string_view what) {
  return absl::StrCat("store: ", path, ": ", AbslView(what), ": ",
                      db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
                                                             absl::Duration busy_timeout) {
  if (path.empty() || path == ":memory:" || path.front() == '\0') {
    return absl::InvalidArgumentError(
        "store: database path: must name a file (WAL needs one; ':memory:' is not supported)");
  }
  // Create the file ourselves so that it (and SQLite's -wal and -shm, which copy its mode) is
  // private: it holds credential hashes.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("store: ", path, ": cannot create database file: ", std::strerror(errno)));
  }

  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = OpenError(path, db, rc, "open");
    sqlite3_close(db);
    return absl::Status(CodeFor(rc), message);
  }
  std::unique_ptr<Connection> connection(new Connection(path, db));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(absl::ToInt64Milliseconds(busy_timeout)));

  // Errors while opening name the file (the operator's fix is there); later ones do not.
  auto at_path = [&path](const absl::Status& s) {
    return absl::Status(
        s.code(), absl::StrCat("store: ", path, ": ", absl::StripPrefix(s.message(), "store: ")));
  };
  // journal_mode answers with the mode in force; anything but "wal" means we could not get it.
  absl::StatusOr<Statement> journal = connection->Prepare("PRAGMA journal_mode=WAL");
  if (!journal.ok()) return at_path(journal.status());
  absl::StatusOr<bool> row = journal->Step();
  if (!row.ok()) return at_path(row.status());
  std::string mode = *row ? journal->ColumnText(0) : "";
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("store: ", path, ": could not enable WAL (journal_mode is '", mode, "')"));
  }
  if (absl::Status s = connection->Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
      !s.ok()) {
    return at_path(s);
  }
  return connection;
}

Connection::~Connection() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
  sqlite3_close(db_);
}

absl::StatusOr<Statement> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !it->second.in_use) {
    it->second.in_use = true;
    return Statement(this, it->second.stmt, &it->second.in_use);
  }
  sqlite3_stmt* stmt = nullptr;
  // A statement already in use (the same SQL nested in one transaction) gets a one-off copy.
  bool cache = it == cache_.end();
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, absl::StrCat("prepare ", AbslView(sql)));
  if (!cache) return Statement(this, stmt, nullptr);
  CachedStatement& slot = cache_[std::string(sql)];
  slot.stmt = stmt;
  slot.in_use = true;
  return Statement(this, stmt, &slot.in_use);
}

absl::Status Connection::Exec(const std::string& sql) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, sql);
  return absl::OkStatus();
}

int64_t Connection::Changes() const { return sqlite3_changes64(db_); }

// Runtime errors reach callers on the wire (a KV Set on a full disk): they say what failed, not
// where the database lives. The path is in the start-up log and in open errors.
absl::Status Connection::Error(int rc, std::string_view what) const {
  return absl::Status(CodeFor(rc),
                      absl::StrCat("store: ", AbslView(what), ": ",
                                   db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)));
}

}  // namespace nodegate::store
