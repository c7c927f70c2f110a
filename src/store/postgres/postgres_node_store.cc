// NodeStore on PostgreSQL: the same rules and messages as SqliteNodeStore.
#include <utility>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/codec.h"
#include "store/postgres/postgres_stores.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

constexpr char kCounter[] = "nodes";
constexpr char kColumns[] =
    "id, algorithm, public_key_pem, previous_algorithm, previous_public_key_pem, "
    "previous_key_valid_until, roles, enabled, cert_serial, created_at, updated_at";

NodeRecord ReadRecord(const PgResult& r, int row) {
  NodeRecord n;
  n.id = r.Bytes(row, 0);
  n.algorithm = r.Bytes(row, 1);
  n.public_key_pem = r.Bytes(row, 2);
  n.previous_algorithm = r.Bytes(row, 3);
  n.previous_public_key_pem = r.Bytes(row, 4);
  n.previous_key_valid_until = DecodeTime(r.Int(row, 5));
  n.roles = DecodeRoles(r.Bytes(row, 6));
  n.enabled = r.Bool(row, 7);
  n.cert_serial = r.Bytes(row, 8);
  n.created_at = DecodeTime(r.Int(row, 9));
  n.updated_at = DecodeTime(r.Int(row, 10));
  return n;
}

// Every column in kColumns order, as $1..$11.
PgParams RecordParams(const NodeRecord& r) {
  PgParams p;
  p.Text(r.id)
      .Bytes(r.algorithm)
      .Bytes(r.public_key_pem)
      .Bytes(r.previous_algorithm)
      .Bytes(r.previous_public_key_pem)
      .Int(EncodeTime(r.previous_key_valid_until))
      .Text(EncodeRoles(r.roles))
      .Bool(r.enabled)
      .Bytes(r.cert_serial)
      .Int(EncodeTime(r.created_at))
      .Int(EncodeTime(r.updated_at));
  return p;
}

absl::Status NotFound(std::string_view id) {
  return absl::NotFoundError(absl::StrCat("store: node ", AbslView(id), " not found"));
}

class PostgresNodeStore final : public NodeStore {
 public:
  explicit PostgresNodeStore(std::shared_ptr<PgDatabase> database) : db_(std::move(database)) {}

  absl::StatusOr<NodeRecord> Create(const NodeRecord& record) override {
    if (absl::Status s = ValidateNodeRecord(record); !s.ok()) return s;
    NodeRecord stored = record;
    if (stored.previous_public_key_pem.empty()) {
      stored.previous_algorithm.clear();
      stored.previous_key_valid_until = absl::InfinitePast();
    }
    stored.created_at = stored.updated_at = StoredNow();
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<NodeRecord> {
      absl::StatusOr<PgResult> insert =
          c.Execute(absl::StrCat("INSERT INTO nodes (", kColumns,
                                 ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
                    RecordParams(stored));
      if (!insert.ok()) {
        if (absl::IsAlreadyExists(insert.status())) {
          return absl::AlreadyExistsError(
              absl::StrCat("store: node ", stored.id, " already exists"));
        }
        return insert.status();
      }
      if (absl::Status s = PgDatabase::BumpGeneration(c, kCounter); !s.ok()) return s;
      return stored;
    });
  }

  absl::StatusOr<NodeRecord> Get(std::string_view id) override {
    if (absl::Status s = ValidateId("node id", id); !s.ok()) return s;
    return db_->Read([&](PgConnection& c) { return GetIn(c, id, /*for_update=*/false); });
  }

  absl::StatusOr<NodePage> List(int page_size, std::string_view page_token) override {
    absl::StatusOr<int> size = EffectivePageSize(page_size);
    if (!size.ok()) return size.status();
    std::string after;
    if (!page_token.empty()) {
      absl::StatusOr<std::string> last = DecodePageToken(page_token);
      if (!last.ok()) return last.status();
      if (!ValidateId("page_token", *last).ok()) {
        return absl::InvalidArgumentError(
            "store: page_token: not a token returned by this listing");
      }
      after = *std::move(last);
    }
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<NodePage> {
      absl::StatusOr<PgResult> rows = c.Execute(
          absl::StrCat("SELECT ", kColumns, " FROM nodes WHERE id > $1 ORDER BY id LIMIT $2"),
          PgParams().Text(after).Int(*size + 1));
      if (!rows.ok()) return rows.status();
      NodePage page;
      for (int i = 0; i < rows->rows(); ++i) {
        if (static_cast<int>(page.records.size()) == *size) {
          page.next_page_token = EncodePageToken(page.records.back().id);
          break;
        }
        page.records.push_back(ReadRecord(*rows, i));
      }
      return page;
    });
  }

  absl::StatusOr<NodeRecord> Update(const NodeRecord& record) override {
    if (absl::Status s = ValidateNodeRecord(record); !s.ok()) return s;
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<NodeRecord> {
      absl::StatusOr<NodeRecord> existing = GetIn(c, record.id, /*for_update=*/true);
      if (!existing.ok()) return existing.status();
      NodeRecord stored = record;
      if (stored.previous_public_key_pem.empty()) {
        stored.previous_algorithm.clear();
        stored.previous_key_valid_until = absl::InfinitePast();
      }
      stored.created_at = existing->created_at;
      stored.updated_at = StoredNow();
      if (absl::Status s = Replace(c, stored); !s.ok()) return s;
      return stored;
    });
  }

  absl::Status SetEnabled(std::string_view id, bool enabled) override {
    if (absl::Status s = ValidateId("node id", id); !s.ok()) return s;
    return db_->Write([&](PgConnection& c) -> absl::Status {
      absl::StatusOr<PgResult> update =
          c.Execute("UPDATE nodes SET enabled = $2, updated_at = $3 WHERE id = $1",
                    PgParams().Text(id).Bool(enabled).Int(EncodeTime(StoredNow())));
      if (!update.ok()) return update.status();
      if (update->affected() == 0) return NotFound(id);
      return PgDatabase::BumpGeneration(c, kCounter);
    });
  }

  absl::StatusOr<NodeRecord> SetRoles(std::string_view id,
                                      const std::vector<std::string>& roles) override {
    if (absl::Status s = ValidateId("node id", id); !s.ok()) return s;
    if (absl::Status s = ValidateRoles("roles", roles); !s.ok()) return s;
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<NodeRecord> {
      absl::StatusOr<PgResult> update =
          c.Execute("UPDATE nodes SET roles = $2, updated_at = $3 WHERE id = $1",
                    PgParams().Text(id).Text(EncodeRoles(roles)).Int(EncodeTime(StoredNow())));
      if (!update.ok()) return update.status();
      if (update->affected() == 0) return NotFound(id);
      if (absl::Status s = PgDatabase::BumpGeneration(c, kCounter); !s.ok()) return s;
      return GetIn(c, id, /*for_update=*/false);
    });
  }

  absl::Status Remove(std::string_view id) override {
    if (absl::Status s = ValidateId("node id", id); !s.ok()) return s;
    return db_->Write([&](PgConnection& c) -> absl::Status {
      absl::StatusOr<PgResult> remove =
          c.Execute("DELETE FROM nodes WHERE id = $1", PgParams().Text(id));
      if (!remove.ok()) return remove.status();
      if (remove->affected() == 0) return NotFound(id);
      return PgDatabase::BumpGeneration(c, kCounter);
    });
  }

  absl::StatusOr<NodeRecord> RotateKey(std::string_view id, std::string_view new_algorithm,
                                       std::string_view new_public_key_pem,
                                       absl::Time grace_until) override {
    if (absl::Status s = ValidateId("node id", id); !s.ok()) return s;
    if (absl::Status s = ValidateNodeKey("node new", new_algorithm, new_public_key_pem); !s.ok()) {
      return s;
    }
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<NodeRecord> {
      // FOR UPDATE: two replicas rotating at once apply one after the other, so neither
      // rotation's "previous key" is lost.
      absl::StatusOr<NodeRecord> stored = GetIn(c, id, /*for_update=*/true);
      if (!stored.ok()) return stored.status();
      stored->previous_algorithm = std::move(stored->algorithm);
      stored->previous_public_key_pem = std::move(stored->public_key_pem);
      stored->previous_key_valid_until = grace_until;
      stored->algorithm = std::string(new_algorithm);
      stored->public_key_pem = std::string(new_public_key_pem);
      stored->updated_at = StoredNow();
      if (absl::Status s = Replace(c, *stored); !s.ok()) return s;
      return stored;
    });
  }

  absl::StatusOr<uint64_t> Generation() override { return db_->Generation(kCounter); }

 private:
  static absl::StatusOr<NodeRecord> GetIn(PgConnection& c, std::string_view id, bool for_update) {
    absl::StatusOr<PgResult> rows =
        for_update
            ? c.Execute(absl::StrCat("SELECT ", kColumns, " FROM nodes WHERE id = $1 FOR UPDATE"),
                        PgParams().Text(id))
            : c.Execute(absl::StrCat("SELECT ", kColumns, " FROM nodes WHERE id = $1"),
                        PgParams().Text(id));
    if (!rows.ok()) return rows.status();
    if (rows->rows() == 0) return NotFound(id);
    return ReadRecord(*rows, 0);
  }

  // Overwrites the existing row r.id and bumps the counter.
  static absl::Status Replace(PgConnection& c, const NodeRecord& r) {
    absl::StatusOr<PgResult> update = c.Execute(
        "UPDATE nodes SET algorithm = $2, public_key_pem = $3, previous_algorithm = $4, "
        "previous_public_key_pem = $5, previous_key_valid_until = $6, roles = $7, enabled = $8, "
        "cert_serial = $9, created_at = $10, updated_at = $11 WHERE id = $1",
        RecordParams(r));
    if (!update.ok()) return update.status();
    if (update->affected() != 1) return NotFound(r.id);
    return PgDatabase::BumpGeneration(c, kCounter);
  }

  const std::shared_ptr<PgDatabase> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NodeStore>> OpenPostgresNodeStore(
    std::shared_ptr<PgDatabase> database) {
  if (database == nullptr) return absl::InvalidArgumentError("store: node store: no database");
  return std::make_unique<PostgresNodeStore>(std::move(database));
}

}  // namespace nodegate::store
