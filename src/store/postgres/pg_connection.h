// One libpq connection (RAII over PGconn*) with a per-connection cache of prepared statements,
// and the parameters and results that go with it. Not thread-safe: PgPool hands a connection to
// one thread at a time. Everything travels in libpq's binary format, so text and bytes need no
// escaping and integers no parsing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct pg_conn;
struct pg_result;

namespace nodegate::store {

// Statement parameters, numbered $1, $2, ... in the order they are added.
class PgParams {
 public:
  PgParams& Text(std::string_view v);   // text: must be valid UTF-8 without NUL (else
                                        // INVALID_ARGUMENT from the server)
  PgParams& Bytes(std::string_view v);  // bytea
  PgParams& Int(int64_t v);             // int8
  PgParams& Bool(bool v);               // bool

 private:
  friend class PgConnection;
  std::vector<std::string> values_;
  std::vector<unsigned int> types_;  // OIDs
};

// A statement's result rows (binary format). Columns and rows are numbered from 0.
class PgResult {
 public:
  int rows() const;
  // Rows changed by an INSERT/UPDATE/DELETE (0 for other statements).
  int64_t affected() const;
  bool IsNull(int row, int column) const;
  std::string Bytes(int row, int column) const;  // text or bytea
  int64_t Int(int row, int column) const;        // int2, int4 or int8
  bool Bool(int row, int column) const;

 private:
  friend class PgConnection;
  struct Clear {
    void operator()(pg_result* r) const;
  };
  explicit PgResult(pg_result* r) : result_(r) {}
  std::unique_ptr<pg_result, Clear> result_;
};

// What PgConnection::Connect is given: libpq keyword/value pairs (see ConnectParamsFromUrl).
struct PgConnectParams {
  std::vector<std::pair<std::string, std::string>> keywords;
};

// Session settings every connection gets; each bounds what one statement may cost. Statements
// are bounded on the server (statement_timeout, lock_timeout) rather than by a client-side
// deadline loop (PQsetnonblocking + poll + PQcancel): PostgreSQL then cancels the statement and
// rolls its transaction back itself, the connection stays usable, and no hand-written I/O loop is
// needed. What a server-side bound cannot catch, a server or network that stops answering, is
// caught by libpq's tcp_user_timeout (and connect_timeout while connecting).
struct PgSessionLimits {
  absl::Duration connect_timeout = absl::Seconds(5);
  // Server-side: a statement running longer is cancelled (DEADLINE_EXCEEDED) and its transaction
  // rolled back by PostgreSQL itself.
  absl::Duration statement_timeout = absl::Seconds(5);
  // A dead server or network (no answer at all): libpq's tcp_user_timeout drops the connection.
  absl::Duration tcp_user_timeout = absl::Seconds(10);
};

// Parses a libpq connection string (key=value or postgresql:// URI) and adds the session limits.
// INVALID_ARGUMENT if it does not parse or carries a password (use a passfile).
absl::StatusOr<PgConnectParams> ConnectParamsFromUrl(std::string_view url,
                                                     const PgSessionLimits& limits);

class PgConnection {
 public:
  // UNAVAILABLE (naming host, port and database; never the password) if the server cannot be
  // reached or refuses the login.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const PgConnectParams& params);
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  ~PgConnection();

  // Runs one statement, prepared on this connection the first time its text is seen.
  absl::StatusOr<PgResult> Execute(std::string_view sql, const PgParams& params = PgParams());
  // Runs one or more statements without parameters (BEGIN, COMMIT, migrations).
  absl::Status Exec(const std::string& sql);

  // The connection is lost; it must not go back to the pool.
  bool broken() const;
  // Inside a transaction block (open or failed).
  bool in_transaction() const;
  // Inside a transaction block that a failed statement aborted (COMMIT would roll it back).
  bool transaction_failed() const;
  // "host:port/dbname", for messages.
  const std::string& target() const { return target_; }

 private:
  PgConnection(pg_conn* conn, std::string target) : conn_(conn), target_(std::move(target)) {}
  absl::Status ResultStatus(const pg_result* r, std::string_view what) const;

  pg_conn* conn_;
  std::string target_;
  std::map<std::string, std::string, std::less<>> prepared_;  // sql -> statement name
};

}  // namespace nodegate::store
