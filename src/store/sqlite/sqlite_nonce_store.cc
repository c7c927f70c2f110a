#include "store/sqlite/sqlite_nonce_store.h"

#include <utility>

#include "store/codec.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

class SqliteNonceStore final : public NonceStore {
 public:
  explicit SqliteNonceStore(std::shared_ptr<Database> database) : db_(std::move(database)) {}

  absl::StatusOr<std::vector<bool>> RecordBatch(const std::vector<NonceRecord>& records,
                                                absl::Time now) override {
    if (absl::Status s = ValidateNonceRecords(records); !s.ok()) return s;
    const std::vector<bool> first = FirstOccurrences(records);
    return db_->Write([&](Connection& c) -> absl::StatusOr<std::vector<bool>> {
      {
        absl::StatusOr<Statement> purge =
            c.Prepare("DELETE FROM signature_nonces WHERE expires_at <= ?1");
        if (!purge.ok()) return purge.status();
        if (absl::Status s = purge->BindInt(1, EncodeTime(now)).Run(); !s.ok()) return s;
      }
      std::vector<bool> fresh(records.size(), false);
      for (size_t i = 0; i < records.size(); ++i) {
        if (!first[i]) continue;
        const NonceRecord& r = records[i];
        absl::StatusOr<Statement> insert = c.Prepare(
            "INSERT OR IGNORE INTO signature_nonces (node_id, nonce, digest, expires_at) "
            "VALUES (?1, ?2, ?3, ?4)");
        if (!insert.ok()) return insert.status();
        if (absl::Status s = insert->BindText(1, r.node_id)
                                 .BindText(2, r.nonce)
                                 .BindBlob(3, r.digest)
                                 .BindInt(4, EncodeTime(r.expires_at))
                                 .Run();
            !s.ok()) {
          return s;
        }
        fresh[i] = c.Changes() > 0;
      }
      return fresh;
    });
  }

  absl::StatusOr<std::vector<NonceRecord>> Live(absl::Time now) override {
    return db_->Read([&](Connection& c) -> absl::StatusOr<std::vector<NonceRecord>> {
      absl::StatusOr<Statement> select = c.Prepare(
          "SELECT node_id, nonce, digest, expires_at FROM signature_nonces WHERE expires_at > ?1");
      if (!select.ok()) return select.status();
      select->BindInt(1, EncodeTime(now));
      std::vector<NonceRecord> out;
      while (true) {
        absl::StatusOr<bool> row = select->Step();
        if (!row.ok()) return row.status();
        if (!*row) return out;
        out.push_back({select->ColumnText(0), select->ColumnText(1), select->ColumnBlob(2),
                       DecodeTime(select->ColumnInt(3))});
      }
    });
  }

  absl::StatusOr<absl::Time> AliveUntil() override {
    return db_->Read([&](Connection& c) -> absl::StatusOr<absl::Time> {
      absl::StatusOr<Statement> select =
          c.Prepare("SELECT alive_until FROM signature_lease WHERE id = 1");
      if (!select.ok()) return select.status();
      absl::StatusOr<bool> row = select->Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::InfinitePast();
      return DecodeTime(select->ColumnInt(0));
    });
  }

  absl::Status SetAliveUntil(absl::Time until) override {
    return db_->Write([&](Connection& c) -> absl::Status {
      absl::StatusOr<Statement> upsert = c.Prepare(
          "INSERT INTO signature_lease (id, alive_until) VALUES (1, ?1) "
          "ON CONFLICT (id) DO UPDATE SET alive_until = excluded.alive_until");
      if (!upsert.ok()) return upsert.status();
      return upsert->BindInt(1, EncodeTime(until)).Run();
    });
  }

 private:
  const std::shared_ptr<Database> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NonceStore>> OpenSqliteNonceStore(
    std::shared_ptr<Database> database) {
  if (database == nullptr) return absl::InvalidArgumentError("store: nonce store: no database");
  return std::make_unique<SqliteNonceStore>(std::move(database));
}

}  // namespace nodegate::store
