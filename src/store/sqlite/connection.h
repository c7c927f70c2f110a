// One SQLite connection (RAII over sqlite3*), with a cache of prepared statements. Not
// thread-safe: Database serialises its use.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/sqlite/statement.h"

struct sqlite3;
struct sqlite3_stmt;

namespace nodegate::store {

class Connection {
 public:
  // Opens (creating with mode 0600 if absent) the database file at `path` in WAL mode with
  // synchronous=FULL, foreign keys on and the given busy timeout.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path,
                                                          absl::Duration busy_timeout);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Statements are prepared once per connection and reused.
  absl::StatusOr<Statement> Prepare(std::string_view sql);
  // Runs one or more statements that bind nothing.
  absl::Status Exec(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;

  // The status for SQLite result code `rc`, naming the file and what was being done.
  absl::Status Error(int rc, std::string_view what) const;
  const std::string& path() const { return path_; }

 private:
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  Connection(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

  std::string path_;
  sqlite3* db_;
  std::map<std::string, CachedStatement, std::less<>> cache_;
};

}  // namespace nodegate::store
