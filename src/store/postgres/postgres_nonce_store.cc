// NonceStore on PostgreSQL: the same rules as SqliteNonceStore. (node_id, nonce) is the primary
// key, so a nonce recorded through one replica is already there for every other: the fleet's
// shared nonce ledger (auth::ReplayLedger in shared mode records every accepted nonce here).
//
// signature_lease is one row per database, as in SQLite. A fleet does not use it (the shared
// ledger records every nonce, which also covers restarts); only a single node does.
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "store/codec.h"
#include "store/postgres/postgres_stores.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

class PostgresNonceStore final : public NonceStore {
 public:
  explicit PostgresNonceStore(std::shared_ptr<PgDatabase> database) : db_(std::move(database)) {}

  // One INSERT of every new record, in one transaction with the purge: a batch costs one round
  // trip and one commit however many calls it carries (the replay ledger's group commit).
  absl::StatusOr<std::vector<bool>> RecordBatch(const std::vector<NonceRecord>& records,
                                                absl::Time now) override {
    if (absl::Status s = ValidateNonceRecords(records); !s.ok()) return s;
    const std::vector<bool> first = FirstOccurrences(records);
    std::map<std::pair<std::string_view, std::string_view>, size_t> index;
    std::string sql = "INSERT INTO signature_nonces (node_id, nonce, digest, expires_at) VALUES ";
    PgParams params;
    int n = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      if (!first[i]) continue;
      const NonceRecord& r = records[i];
      index.emplace(std::make_pair(std::string_view(r.node_id), std::string_view(r.nonce)), i);
      absl::StrAppend(&sql, n == 0 ? "" : ", ", "($", n + 1, ", $", n + 2, ", $", n + 3, ", $",
                      n + 4, ")");
      params.Bytes(r.node_id).Bytes(r.nonce).Bytes(r.digest).Int(EncodeTime(r.expires_at));
      n += 4;
    }
    sql += " ON CONFLICT (node_id, nonce) DO NOTHING RETURNING node_id, nonce";
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<std::vector<bool>> {
      absl::StatusOr<PgResult> purge = c.Execute(
          "DELETE FROM signature_nonces WHERE expires_at <= $1", PgParams().Int(EncodeTime(now)));
      if (!purge.ok()) return purge.status();
      std::vector<bool> fresh(records.size(), false);
      if (n == 0) return fresh;
      absl::StatusOr<PgResult> inserted = c.Execute(sql, params);
      if (!inserted.ok()) return inserted.status();
      for (int row = 0; row < inserted->rows(); ++row) {
        const std::string node_id = inserted->Bytes(row, 0);
        const std::string nonce = inserted->Bytes(row, 1);
        auto it = index.find({node_id, nonce});
        if (it != index.end()) fresh[it->second] = true;
      }
      return fresh;
    });
  }

  absl::StatusOr<std::vector<NonceRecord>> Live(absl::Time now) override {
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<std::vector<NonceRecord>> {
      absl::StatusOr<PgResult> rows = c.Execute(
          "SELECT node_id, nonce, digest, expires_at FROM signature_nonces WHERE expires_at > $1",
          PgParams().Int(EncodeTime(now)));
      if (!rows.ok()) return rows.status();
      std::vector<NonceRecord> out;
      out.reserve(rows->rows());
      for (int i = 0; i < rows->rows(); ++i) {
        out.push_back(
            {rows->Bytes(i, 0), rows->Bytes(i, 1), rows->Bytes(i, 2), DecodeTime(rows->Int(i, 3))});
      }
      return out;
    });
  }

  absl::StatusOr<absl::Time> AliveUntil() override {
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<absl::Time> {
      absl::StatusOr<PgResult> rows =
          c.Execute("SELECT alive_until FROM signature_lease WHERE id = 1");
      if (!rows.ok()) return rows.status();
      if (rows->rows() == 0) return absl::InfinitePast();
      return DecodeTime(rows->Int(0, 0));
    });
  }

  absl::Status SetAliveUntil(absl::Time until) override {
    return db_->Write([&](PgConnection& c) -> absl::Status {
      return c
          .Execute(
              "INSERT INTO signature_lease (id, alive_until) VALUES (1, $1) "
              "ON CONFLICT (id) DO UPDATE SET alive_until = EXCLUDED.alive_until",
              PgParams().Int(EncodeTime(until)))
          .status();
    });
  }

 private:
  const std::shared_ptr<PgDatabase> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NonceStore>> OpenPostgresNonceStore(
    std::shared_ptr<PgDatabase> database) {
  if (database == nullptr) return absl::InvalidArgumentError("store: nonce store: no database");
  return std::make_unique<PostgresNonceStore>(std::move(database));
}

}  // namespace nodegate::store
