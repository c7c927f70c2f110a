// A nodegate SQLite database file: opened in WAL mode with synchronous=FULL, schema migrated on
// open. Thread-safe; shared by the Sqlite* stores through std::shared_ptr. Within one process all
// statements run on one connection, one transaction at a time; other processes (or other Database
// objects on the same file) are kept out by SQLite's locks (busy_timeout, BEGIN IMMEDIATE).
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
#include "store/sqlite/connection.h"

namespace nodegate::store {

class Database {
 public:
  struct Options {
    // How long a statement waits for another connection's lock before UNAVAILABLE.
    absl::Duration busy_timeout = absl::Seconds(10);
  };

  // Opens or creates the file and applies pending migrations. FAILED_PRECONDITION (naming the
  // file) if the file's schema is newer than this build knows.
  static absl::StatusOr<std::shared_ptr<Database>> Open(const std::string& path, Options options);
  static absl::StatusOr<std::shared_ptr<Database>> Open(const std::string& path) {
    return Open(path, Options());
  }

  const std::string& path() const { return path_; }
  int schema_version() const { return schema_version_; }

  // Runs body(Connection&) -> Status or StatusOr<T> in a BEGIN IMMEDIATE transaction, committed if
  // the body returns OK and rolled back otherwise (also if it throws).
  template <typename Body>
  std::invoke_result_t<Body&, Connection&> Write(Body&& body) ABSL_LOCKS_EXCLUDED(mu_) {
    return RunInTransaction("BEGIN IMMEDIATE", body);
  }
  // The same in a read (deferred) transaction, for a consistent view across statements.
  template <typename Body>
  std::invoke_result_t<Body&, Connection&> Read(Body&& body) ABSL_LOCKS_EXCLUDED(mu_) {
    return RunInTransaction("BEGIN", body);
  }

  // Increments the named change counter (one of "nodes", "credentials"); call
  // inside Write so that the change and the bump commit together.
  static absl::Status BumpGeneration(Connection& connection, std::string_view counter);
  // The counter's value as committed by any connection to this file. Runs on a separate read-only
  // connection, so it never waits behind a writer here. If the file cannot be read, the error
  // (a cache then keeps its snapshot and knows it is no longer confirmed).
  absl::StatusOr<uint64_t> Generation(std::string_view counter) ABSL_LOCKS_EXCLUDED(watch_mu_);

 private:
  Database(std::string path, std::unique_ptr<Connection> connection,
           std::unique_ptr<Connection> watch, int schema_version)
      : path_(std::move(path)),
        schema_version_(schema_version),
        connection_(std::move(connection)),
        watch_(std::move(watch)) {}

  // Rolls back unless Commit succeeded.
  class TransactionGuard {
   public:
    explicit TransactionGuard(Connection& connection) : connection_(connection) {}
    ~TransactionGuard();
    absl::Status Begin(const char* begin_sql);
    absl::Status Commit();

   private:
    Connection& connection_;
    bool open_ = false;
  };

  template <typename Body>
  std::invoke_result_t<Body&, Connection&> RunInTransaction(const char* begin_sql, Body& body) {
    absl::MutexLock lock(&mu_);
    TransactionGuard transaction(*connection_);
    if (absl::Status s = transaction.Begin(begin_sql); !s.ok()) return s;
    auto result = body(*connection_);
    if (!result.ok()) return result;
    if (absl::Status s = transaction.Commit(); !s.ok()) return s;
    return result;
  }

  absl::Status RefreshGenerationsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_mu_);

  const std::string path_;
  const int schema_version_;
  absl::Mutex mu_;
  const std::unique_ptr<Connection> connection_ ABSL_PT_GUARDED_BY(mu_);

  absl::Mutex watch_mu_;
  const std::unique_ptr<Connection> watch_ ABSL_PT_GUARDED_BY(watch_mu_);
  bool watched_ ABSL_GUARDED_BY(watch_mu_) = false;
  int64_t data_version_ ABSL_GUARDED_BY(watch_mu_) = 0;
  std::map<std::string, uint64_t, std::less<>> generations_ ABSL_GUARDED_BY(watch_mu_);
};

}  // namespace nodegate::store
