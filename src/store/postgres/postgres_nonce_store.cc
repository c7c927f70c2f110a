// NonceStore on PostgreSQL: the same rules as SqliteNonceStore. (node_id, nonce) is the primary
// key, so a nonce recorded through one replica is ALREADY_EXISTS through every other.
//
// Not yet fleet-aware: signature_lease is one row per database, as in SQLite, so replicas share
// (and overwrite) one AliveUntil; a replica's clean shutdown shortens it for all. The replay
// ledger's fleet design (issue 14, later part) must replace it before replicas rely on it.
#include <utility>

#include "store/codec.h"
#include "store/postgres/postgres_stores.h"

namespace nodegate::store {
namespace {

class PostgresNonceStore final : public NonceStore {
 public:
  explicit PostgresNonceStore(std::shared_ptr<PgDatabase> database) : db_(std::move(database)) {}

  absl::Status Record(const NonceRecord& record, absl::Time now) override {
    if (record.node_id.empty() || record.nonce.empty()) {
      return absl::InvalidArgumentError("store: nonce record: node_id and nonce are required");
    }
    return db_->Write([&](PgConnection& c) -> absl::Status {
      absl::StatusOr<PgResult> purge = c.Execute(
          "DELETE FROM signature_nonces WHERE expires_at <= $1", PgParams().Int(EncodeTime(now)));
      if (!purge.ok()) return purge.status();
      absl::StatusOr<PgResult> insert = c.Execute(
          "INSERT INTO signature_nonces (node_id, nonce, digest, expires_at) "
          "VALUES ($1, $2, $3, $4) ON CONFLICT (node_id, nonce) DO NOTHING",
          PgParams()
              .Bytes(record.node_id)
              .Bytes(record.nonce)
              .Bytes(record.digest)
              .Int(EncodeTime(record.expires_at)));
      if (!insert.ok()) return insert.status();
      if (insert->affected() == 0) return absl::AlreadyExistsError("store: nonce already recorded");
      return absl::OkStatus();
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
