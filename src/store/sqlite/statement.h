// A prepared SQLite statement in use. Obtained from Connection::Prepare; on destruction it is reset
// and its bindings cleared (cached statements) or finalized (one-off statements). Not thread-safe:
// it belongs to the thread that holds its connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3_stmt;

namespace nodegate::store {

class Connection;

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1. A failed bind is reported by the next Step or Run.
  Statement& BindText(int index, std::string_view value);
  Statement& BindBlob(int index, std::string_view value);
  Statement& BindInt(int index, int64_t value);

  // true: a row is available; false: done.
  absl::StatusOr<bool> Step();
  // Steps until done, ignoring rows.
  absl::Status Run();

  // Columns are numbered from 0 and valid only after Step returned true.
  int64_t ColumnInt(int column) const;
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;

 private:
  friend class Connection;
  Statement(const Connection* connection, sqlite3_stmt* stmt, bool* in_use);

  const Connection* connection_;
  sqlite3_stmt* stmt_;
  bool* in_use_;  // the cache slot's flag; nullptr for a one-off statement we finalize
  int bind_error_ = 0;
};

}  // namespace nodegate::store
