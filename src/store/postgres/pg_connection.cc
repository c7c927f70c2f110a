#include "store/postgres/pg_connection.h"

#include <libpq-fe.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "store/absl_view.h"

namespace nodegate::store {
namespace {

// Type OIDs (pg_type.h; stable across PostgreSQL versions).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;

constexpr int kBinary = 1;

// The status code for a server error, by SQLSTATE.
absl::StatusCode CodeForSqlState(std::string_view state) {
  if (state == "23505") return absl::StatusCode::kAlreadyExists;  // unique_violation
  // query_canceled (statement_timeout), lock_not_available (lock_timeout).
  if (state == "57014" || state == "55P03") return absl::StatusCode::kDeadlineExceeded;
  // serialization_failure, deadlock_detected: the transaction may be retried.
  if (state == "40001" || state == "40P01") return absl::StatusCode::kAborted;
  // character_not_in_repertoire, untranslatable_character: text that is not UTF-8 or has NUL.
  if (state == "22021" || state == "22P05") return absl::StatusCode::kInvalidArgument;
  // connection_exception, admin_shutdown/crash_shutdown/cannot_connect_now, too_many_connections.
  if (state.substr(0, 2) == "08" || state == "57P01" || state == "57P02" || state == "57P03" ||
      state == "53300") {
    return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kInternal;
}

std::string Trimmed(const char* message) {
  return std::string(absl::StripTrailingAsciiWhitespace(message == nullptr ? "" : message));
}

// A signed big-endian integer of 2, 4 or 8 bytes (int2, int4, int8 in binary format).
int64_t DecodeBigEndian(const char* p, int length) {
  if (length != 2 && length != 4 && length != 8) return 0;
  uint64_t v = 0;
  for (int i = 0; i < length; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  const int shift = 64 - 8 * length;  // sign-extend
  return static_cast<int64_t>(v << shift) >> shift;
}

// The first words of a statement, to say which one failed (parameters are never part of it).
std::string Summary(std::string_view sql) {
  std::string out;
  for (char c : sql) {
    if (out.size() >= 48) return out + "...";
    const bool space = absl::ascii_isspace(static_cast<unsigned char>(c));
    if (space && (out.empty() || out.back() == ' ')) continue;
    out.push_back(space ? ' ' : c);
  }
  return out;
}

}  // namespace

PgParams& PgParams::Text(std::string_view v) {
  values_.emplace_back(v);
  types_.push_back(kTextOid);
  return *this;
}

PgParams& PgParams::Bytes(std::string_view v) {
  values_.emplace_back(v);
  types_.push_back(kByteaOid);
  return *this;
}

PgParams& PgParams::Int(int64_t v) {
  std::string be(8, '\0');
  for (int i = 7; i >= 0; --i, v = static_cast<int64_t>(static_cast<uint64_t>(v) >> 8)) {
    be[i] = static_cast<char>(v & 0xff);
  }
  values_.push_back(std::move(be));
  types_.push_back(kInt8Oid);
  return *this;
}

PgParams& PgParams::Bool(bool v) {
  values_.emplace_back(1, v ? '\1' : '\0');
  types_.push_back(kBoolOid);
  return *this;
}

void PgResult::Clear::operator()(pg_result* r) const { PQclear(r); }

int PgResult::rows() const { return PQntuples(result_.get()); }

int64_t PgResult::affected() const {
  int64_t n = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_.get()), &n) ? n : 0;
}

bool PgResult::IsNull(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}

std::string PgResult::Bytes(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

int64_t PgResult::Int(int row, int column) const {
  return DecodeBigEndian(PQgetvalue(result_.get(), row, column),
                         PQgetlength(result_.get(), row, column));
}

bool PgResult::Bool(int row, int column) const {
  return PQgetlength(result_.get(), row, column) == 1 &&
         *PQgetvalue(result_.get(), row, column) != 0;
}

absl::StatusOr<PgConnectParams> ConnectParamsFromUrl(std::string_view url,
                                                     const PgSessionLimits& limits) {
  if (url.empty()) {
    return absl::InvalidArgumentError(
        "empty; give a libpq connection string such as \"host=db.example port=5432 "
        "dbname=nodegate user=nodegate\"");
  }
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> options(
      PQconninfoParse(std::string(url).c_str(), &error), PQconninfoFree);
  if (options == nullptr) {
    std::string message = Trimmed(error);
    PQfreemem(error);
    // libpq's parse errors quote what they could not parse: for a URI that can be the whole URI or
    // a percent-encoded password, so only a key=value string without a password is quoted.
    const bool uri = absl::StartsWith(AbslView(url), "postgresql://") ||
                     absl::StartsWith(AbslView(url), "postgres://");
    if (uri || absl::StrContains(AbslView(url), "password")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "not a libpq connection string (", uri ? "a malformed postgresql:// URI" : "malformed",
          "; libpq's reason is not shown because it would quote the string, which may hold a "
          "password)"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("not a libpq connection string (", message, ")"));
  }
  PgConnectParams params;
  std::string user_options;
  bool has_connect_timeout = false, has_tcp_user_timeout = false, has_application_name = false;
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') continue;
    std::string_view keyword = o->keyword;
    if (keyword == "password") {
      return absl::InvalidArgumentError(
          "carries a password, which would sit in the config file and in logs; remove it and "
          "put the password in a passfile (~/.pgpass format): set PGPASSFILE=/path/to/passfile "
          "in the environment or add passfile=/path/to/passfile to the connection string");
    }
    // libpq expands a dbname that is itself a connection string only when asked to (we do not);
    // left as it is, the server would quote it back, password and all, in "database ... does not
    // exist".
    if (keyword == "dbname" &&
        (std::strchr(o->val, '=') != nullptr || std::strstr(o->val, "://") != nullptr)) {
      return absl::InvalidArgumentError(
          "dbname must be a database name, not a connection string; put its settings in the url "
          "itself");
    }
    if (keyword == "options") {
      user_options = o->val;
      continue;
    }
    has_connect_timeout |= keyword == "connect_timeout";
    has_tcp_user_timeout |= keyword == "tcp_user_timeout";
    has_application_name |= keyword == "application_name";
    params.keywords.emplace_back(o->keyword, o->val);
  }
  // What the url sets wins, except the statement bounds, which are always ours.
  if (!has_connect_timeout) {
    params.keywords.emplace_back(
        "connect_timeout",
        absl::StrCat(std::max<int64_t>(2, absl::ToInt64Seconds(limits.connect_timeout))));
  }
  if (!has_tcp_user_timeout) {
    params.keywords.emplace_back("tcp_user_timeout",
                                 absl::StrCat(absl::ToInt64Milliseconds(limits.tcp_user_timeout)));
  }
  if (!has_application_name) params.keywords.emplace_back("application_name", "nodegate");
  params.keywords.emplace_back("client_encoding", "UTF8");
  const int64_t statement_ms =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(limits.statement_timeout));
  // synchronous_commit=on: a write is acknowledged only once PostgreSQL has it on disk, whatever
  // the server's default says. idle_in_transaction_session_timeout frees the locks of a client that
  // vanished mid-transaction.
  params.keywords.emplace_back(
      "options",
      absl::StrCat(user_options, user_options.empty() ? "" : " ",
                   "-c statement_timeout=", statement_ms, " -c lock_timeout=", statement_ms,
                   " -c idle_in_transaction_session_timeout=", 4 * statement_ms,
                   " -c synchronous_commit=on"));
  return params;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const PgConnectParams& params) {
  std::vector<const char*> keywords, values;
  for (const auto& [k, v] : params.keywords) {
    keywords.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/0);
  if (conn == nullptr) return absl::ResourceExhaustedError("store: postgres: out of memory");
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  const char* db = PQdb(conn);
  std::string target = absl::StrCat(host == nullptr ? "" : host, ":", port == nullptr ? "" : port,
                                    "/", db == nullptr ? "" : db);
  if (PQstatus(conn) != CONNECTION_OK) {
    // libpq's message names host and port and the server's reason; it never contains a password.
    std::string message = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(
        absl::StrCat("store: postgres ", target, ": cannot connect: ", message));
  }
  // The server's NOTICEs (e.g. "relation ... already exists, skipping") would go to stderr;
  // nothing acts on them, and a store does not write to the process's output.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(conn, std::move(target)));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

bool PgConnection::in_transaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }

bool PgConnection::transaction_failed() const {
  return PQtransactionStatus(conn_) == PQTRANS_INERROR;
}

absl::Status PgConnection::ResultStatus(const pg_result* r, std::string_view what) const {
  ExecStatusType status = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return absl::OkStatus();
  if (broken()) {
    return absl::UnavailableError(
        absl::StrCat("store: postgres ", target_, ": ", AbslView(what),
                     ": connection lost: ", Trimmed(PQerrorMessage(conn_))));
  }
  const char* state = r == nullptr ? nullptr : PQresultErrorField(r, PG_DIAG_SQLSTATE);
  const char* primary = r == nullptr ? nullptr : PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  // Only the primary message: DETAIL may quote a key's value (a token hash).
  std::string message = primary != nullptr ? Trimmed(primary) : Trimmed(PQerrorMessage(conn_));
  if (state != nullptr) absl::StrAppend(&message, " (SQLSTATE ", state, ")");
  return absl::Status(
      CodeForSqlState(state == nullptr ? "" : state),
      absl::StrCat("store: postgres ", target_, ": ", AbslView(what), ": ", message));
}

absl::StatusOr<PgResult> PgConnection::Execute(std::string_view sql, const PgParams& params) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = absl::StrCat("ng", prepared_.size() + 1);
    std::string text(sql);
    PgResult prepared(PQprepare(conn_, name.c_str(), text.c_str(),
                                static_cast<int>(params.types_.size()), params.types_.data()));
    if (absl::Status s = ResultStatus(prepared.result_.get(), "prepare " + Summary(sql)); !s.ok()) {
      return s;
    }
    it = prepared_.emplace(std::move(text), std::move(name)).first;
  }
  const int n = static_cast<int>(params.values_.size());
  std::vector<const char*> values(n);
  std::vector<int> lengths(n), formats(n, kBinary);
  for (int i = 0; i < n; ++i) {
    values[i] = params.values_[i].data();
    lengths[i] = static_cast<int>(params.values_[i].size());
  }
  PgResult result(PQexecPrepared(conn_, it->second.c_str(), n, values.data(), lengths.data(),
                                 formats.data(), kBinary));
  if (absl::Status s = ResultStatus(result.result_.get(), Summary(sql)); !s.ok()) return s;
  return result;
}

absl::Status PgConnection::Exec(const std::string& sql) {
  PgResult result(PQexec(conn_, sql.c_str()));
  return ResultStatus(result.result_.get(), Summary(sql));
}

}  // namespace nodegate::store
