#include "store/sqlite/sqlite_kv_store.h"

#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/codec.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

struct Totals {
  int64_t keys = 0;
  int64_t bytes = 0;
};

absl::StatusOr<Totals> ReadTotals(Connection& c) {
  absl::StatusOr<Statement> select = c.Prepare("SELECT keys, bytes FROM kv_totals WHERE id = 1");
  if (!select.ok()) return select.status();
  absl::StatusOr<bool> row = select->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::DataLossError(absl::StrCat("store: ", c.path(), ": kv_totals is empty"));
  return Totals{select->ColumnInt(0), select->ColumnInt(1)};
}

absl::Status WriteTotals(Connection& c, const Totals& totals) {
  absl::StatusOr<Statement> update =
      c.Prepare("UPDATE kv_totals SET keys = ?1, bytes = ?2 WHERE id = 1");
  if (!update.ok()) return update.status();
  return update->BindInt(1, totals.keys).BindInt(2, totals.bytes).Run();
}

// The stored value's size, or nullopt if the key is absent.
absl::StatusOr<std::optional<int64_t>> ValueSize(Connection& c, std::string_view key) {
  absl::StatusOr<Statement> select = c.Prepare("SELECT length(value) FROM kv WHERE key = ?1");
  if (!select.ok()) return select.status();
  absl::StatusOr<bool> row = select->BindBlob(1, key).Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  return select->ColumnInt(0);
}

class SqliteKvStore final : public KvStore {
 public:
  SqliteKvStore(std::shared_ptr<Database> database, KvLimits limits)
      : db_(std::move(database)), limits_(limits) {}

  absl::StatusOr<KvEntry> Get(std::string_view key) override {
    if (absl::Status s = ValidateKvKey(key, limits_); !s.ok()) return s;
    return db_->Read([&](Connection& c) -> absl::StatusOr<KvEntry> {
      absl::StatusOr<Statement> select =
          c.Prepare("SELECT value, content_type, updated_at FROM kv WHERE key = ?1");
      if (!select.ok()) return select.status();
      absl::StatusOr<bool> row = select->BindBlob(1, key).Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::NotFoundError("store: kv: key not found");
      return KvEntry{select->ColumnBlob(0), select->ColumnText(1),
                     DecodeTime(select->ColumnInt(2))};
    });
  }

  absl::Status Set(std::string_view key, std::string_view value,
                   std::string_view content_type) override {
    if (absl::Status s = ValidateKvSet(key, value, content_type, limits_); !s.ok()) return s;
    const int64_t key_bytes = static_cast<int64_t>(key.size());
    const int64_t value_bytes = static_cast<int64_t>(value.size());
    return db_->Write([&](Connection& c) -> absl::Status {
      absl::StatusOr<std::optional<int64_t>> old_size = ValueSize(c, key);
      if (!old_size.ok()) return old_size.status();
      absl::StatusOr<Totals> totals = ReadTotals(c);
      if (!totals.ok()) return totals.status();
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
      absl::StatusOr<Statement> upsert = c.Prepare(
          "INSERT INTO kv (key, value, content_type, updated_at) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
          "content_type = excluded.content_type, updated_at = excluded.updated_at");
      if (!upsert.ok()) return upsert.status();
      if (absl::Status s = upsert->BindBlob(1, key)
                               .BindBlob(2, value)
                               .BindText(3, content_type)
                               .BindInt(4, EncodeTime(StoredNow()))
                               .Run();
          !s.ok()) {
        return s;
      }
      return WriteTotals(c, next);
    });
  }

  absl::Status Delete(std::string_view key) override {
    if (absl::Status s = ValidateKvKey(key, limits_); !s.ok()) return s;
    return db_->Write([&](Connection& c) -> absl::Status {
      absl::StatusOr<std::optional<int64_t>> old_size = ValueSize(c, key);
      if (!old_size.ok()) return old_size.status();
      if (!old_size->has_value()) return absl::NotFoundError("store: kv: key not found");
      absl::StatusOr<Totals> totals = ReadTotals(c);
      if (!totals.ok()) return totals.status();
      absl::StatusOr<Statement> remove = c.Prepare("DELETE FROM kv WHERE key = ?1");
      if (!remove.ok()) return remove.status();
      if (absl::Status s = remove->BindBlob(1, key).Run(); !s.ok()) return s;
      return WriteTotals(c, Totals{totals->keys - 1,
                                   totals->bytes - static_cast<int64_t>(key.size()) - **old_size});
    });
  }

  absl::StatusOr<bool> Exists(std::string_view key) override {
    if (absl::Status s = ValidateKvKey(key, limits_); !s.ok()) return s;
    return db_->Read([&](Connection& c) -> absl::StatusOr<bool> {
      absl::StatusOr<Statement> select = c.Prepare("SELECT 1 FROM kv WHERE key = ?1");
      if (!select.ok()) return select.status();
      return select->BindBlob(1, key).Step();
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
    return db_->Read([&](Connection& c) -> absl::StatusOr<KvKeyPage> {
      absl::StatusOr<Statement> select =
          limit.empty() ? c.Prepare(
                              "SELECT key FROM kv WHERE key >= ?1 AND key > ?2 "
                              "ORDER BY key LIMIT ?3")
                        : c.Prepare(
                              "SELECT key FROM kv WHERE key >= ?1 AND key > ?2 "
                              "AND key < ?4 ORDER BY key LIMIT ?3");
      if (!select.ok()) return select.status();
      select->BindBlob(1, prefix).BindBlob(2, after).BindInt(3, *size + 1);
      if (!limit.empty()) select->BindBlob(4, limit);
      KvKeyPage page;
      while (true) {
        absl::StatusOr<bool> row = select->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        if (static_cast<int>(page.keys.size()) == *size) {
          page.next_page_token = EncodePageToken(page.keys.back());
          break;
        }
        page.keys.push_back(select->ColumnBlob(0));
      }
      return page;
    });
  }

 private:
  const std::shared_ptr<Database> db_;
  const KvLimits limits_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<KvStore>> OpenSqliteKvStore(std::shared_ptr<Database> database,
                                                           KvLimits limits) {
  if (database == nullptr) return absl::InvalidArgumentError("store: kv store: no database");
  if (absl::Status s = ValidateKvLimits(limits); !s.ok()) return s;
  return std::make_unique<SqliteKvStore>(std::move(database), limits);
}

}  // namespace nodegate::store
