// KvStore on PostgreSQL: the same rules and messages as SqliteKvStore. Writes lock the kv_totals
// row first, so limits hold across replicas; OK is returned only after COMMIT, which with
// synchronous_commit=on (pg_connection.cc) means PostgreSQL has flushed it.
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/codec.h"
#include "store/postgres/postgres_stores.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

struct Totals {
  int64_t keys = 0;
  int64_t bytes = 0;
};

// Locks the totals row until the transaction ends: one writer at a time, on every replica.
absl::StatusOr<Totals> LockTotals(PgConnection& c) {
  absl::StatusOr<PgResult> rows =
      c.Execute("SELECT keys, bytes FROM kv_totals WHERE id = 1 FOR UPDATE");
  if (!rows.ok()) return rows.status();
  if (rows->rows() == 0) {
    return absl::DataLossError(
        absl::StrCat("store: postgres ", c.target(), ": kv_totals is empty"));
  }
  return Totals{rows->Int(0, 0), rows->Int(0, 1)};
}

absl::Status WriteTotals(PgConnection& c, const Totals& totals) {
  return c
      .Execute("UPDATE kv_totals SET keys = $1, bytes = $2 WHERE id = 1",
               PgParams().Int(totals.keys).Int(totals.bytes))
      .status();
}

// The stored value's size, or nullopt if the key is absent.
absl::StatusOr<std::optional<int64_t>> ValueSize(PgConnection& c, std::string_view key) {
  absl::StatusOr<PgResult> rows =
      c.Execute("SELECT octet_length(value)::bigint FROM kv WHERE key = $1", PgParams().Bytes(key));
  if (!rows.ok()) return rows.status();
  if (rows->rows() == 0) return std::nullopt;
  return rows->Int(0, 0);
}

class PostgresKvStore final : public KvStore {
 public:
  PostgresKvStore(std::shared_ptr<PgDatabase> database, KvLimits limits)
      : db_(std::move(database)), limits_(limits) {}

  absl::StatusOr<KvEntry> Get(std::string_view key) override {
    if (absl::Status s = ValidateKvKey(key, limits_); !s.ok()) return s;
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<KvEntry> {
      absl::StatusOr<PgResult> rows = c.Execute(
          "SELECT value, content_type, updated_at FROM kv WHERE key = $1", PgParams().Bytes(key));
      if (!rows.ok()) return rows.status();
      if (rows->rows() == 0) return absl::NotFoundError("store: kv: key not found");
      return KvEntry{rows->Bytes(0, 0), rows->Bytes(0, 1), DecodeTime(rows->Int(0, 2))};
    });
  }

  absl::Status Set(std::string_view key, std::string_view value,
                   std::string_view content_type) override {
    if (absl::Status s = ValidateKvSet(key, value, content_type, limits_); !s.ok()) return s;
    const int64_t key_bytes = static_cast<int64_t>(key.size());
    const int64_t value_bytes = static_cast<int64_t>(value.size());
    return db_->Write([&](PgConnection& c) -> absl::Status {
      absl::StatusOr<Totals> totals = LockTotals(c);
      if (!totals.ok()) return totals.status();
      absl::StatusOr<std::optional<int64_t>> old_size = ValueSize(c, key);
      if (!old_size.ok()) return old_size.status();
      Totals next = *totals;
      if (old_size->has_value()) {
        next.bytes -= key_bytes + **old_size;
      } else {
        ++next.keys;
        if (next.keys > limits_.max_keys) {
          return absl::ResourceExhaustedError(
              absl::StrCat("store: kv: the limit of ", limits_.max_keys, " keys is reached"));
        }
      }
      next.bytes += key_bytes + value_bytes;
      // A Set that shrinks the total is allowed even above the limit (e.g. after it was lowered).
      if (next.bytes > limits_.max_total_bytes && next.bytes > totals->bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "store: kv: storing ", key_bytes + value_bytes,
            " bytes would exceed the total limit of ", limits_.max_total_bytes, " bytes"));
      }
      absl::StatusOr<PgResult> upsert = c.Execute(
          "INSERT INTO kv (key, value, content_type, updated_at) VALUES ($1, $2, $3, $4) "
          "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
          "content_type = EXCLUDED.content_type, updated_at = EXCLUDED.updated_at",
          PgParams().Bytes(key).Bytes(value).Bytes(content_type).Int(EncodeTime(StoredNow())));
      if (!upsert.ok()) return upsert.status();
      return WriteTotals(c, next);
    });
  }

  absl::Status Delete(std::string_view key) override {
    if (absl::Status s = ValidateKvKey(key, limits_); !s.ok()) return s;
    return db_->Write([&](PgConnection& c) -> absl::Status {
      absl::StatusOr<Totals> totals = LockTotals(c);
      if (!totals.ok()) return totals.status();
      absl::StatusOr<std::optional<int64_t>> old_size = ValueSize(c, key);
      if (!old_size.ok()) return old_size.status();
      if (!old_size->has_value()) return absl::NotFoundError("store: kv: key not found");
      absl::StatusOr<PgResult> remove =
          c.Execute("DELETE FROM kv WHERE key = $1", PgParams().Bytes(key));
      if (!remove.ok()) return remove.status();
      return WriteTotals(c, Totals{totals->keys - 1,
                                   totals->bytes - static_cast<int64_t>(key.size()) - **old_size});
    });
  }

  absl::StatusOr<bool> Exists(std::string_view key) override {
    if (absl::Status s = ValidateKvKey(key, limits_); !s.ok()) return s;
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<bool> {
      absl::StatusOr<PgResult> rows =
          c.Execute("SELECT 1 FROM kv WHERE key = $1", PgParams().Bytes(key));
      if (!rows.ok()) return rows.status();
      return rows->rows() > 0;
    });
  }

  absl::StatusOr<KvKeyPage> Keys(std::string_view prefix, int page_size,
                                 std::string_view page_token) override {
    if (static_cast<int64_t>(prefix.size()) > limits_.max_key_bytes) {
      return absl::InvalidArgumentError("store: kv: prefix is longer than the key limit");
    }
    absl::StatusOr<int> size = EffectivePageSize(page_size);
    if (!size.ok()) return size.status();
    std::string after;
    if (!page_token.empty()) {
      absl::StatusOr<std::string> last = DecodePageToken(page_token);
      if (!last.ok()) return last.status();
      if (!absl::StartsWith(*last, AbslView(prefix))) {
        return absl::InvalidArgumentError(
            "store: page_token: not a token returned by this listing (prefix differs)");
      }
      after = *std::move(last);
    }
    const std::string limit = PrefixSuccessor(prefix);
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<KvKeyPage> {
      // bytea compares byte-wise, as SQLite's BLOB does.
      PgParams params;
      params.Bytes(prefix).Bytes(after).Int(*size + 1);
      if (!limit.empty()) params.Bytes(limit);
      absl::StatusOr<PgResult> rows = limit.empty()
                                          ? c.Execute(
                                                "SELECT key FROM kv WHERE key >= $1 AND key > $2 "
                                                "ORDER BY key LIMIT $3",
                                                params)
                                          : c.Execute(
                                                "SELECT key FROM kv WHERE key >= $1 AND key > $2 "
                                                "AND key < $4 ORDER BY key LIMIT $3",
                                                params);
      if (!rows.ok()) return rows.status();
      KvKeyPage page;
      for (int i = 0; i < rows->rows(); ++i) {
        if (static_cast<int>(page.keys.size()) == *size) {
          page.next_page_token = EncodePageToken(page.keys.back());
          break;
        }
        page.keys.push_back(rows->Bytes(i, 0));
      }
      return page;
    });
  }

 private:
  const std::shared_ptr<PgDatabase> db_;
  const KvLimits limits_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<KvStore>> OpenPostgresKvStore(std::shared_ptr<PgDatabase> database,
                                                             KvLimits limits) {
  if (database == nullptr) return absl::InvalidArgumentError("store: kv store: no database");
  if (absl::Status s = ValidateKvLimits(limits); !s.ok()) return s;
  return std::make_unique<PostgresKvStore>(std::move(database), limits);
}

}  // namespace nodegate::store
