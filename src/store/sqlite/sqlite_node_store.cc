#include "store/sqlite/sqlite_node_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/codec.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

constexpr char kCounter[] = "nodes";
constexpr char kColumns[] =
    "id, algorithm, public_key_pem, previous_algorithm, previous_public_key_pem, "
    "previous_key_valid_until, roles, enabled, cert_serial, created_at, updated_at";

NodeRecord ReadRecord(const Statement& row) {
  NodeRecord r;
  r.id = row.ColumnText(0);
  r.algorithm = row.ColumnText(1);
  r.public_key_pem = row.ColumnText(2);
  r.previous_algorithm = row.ColumnText(3);
  r.previous_public_key_pem = row.ColumnText(4);
  r.previous_key_valid_until = DecodeTime(row.ColumnInt(5));
  r.roles = DecodeRoles(row.ColumnText(6));
  r.enabled = row.ColumnInt(7) != 0;
  r.cert_serial = row.ColumnText(8);
  r.created_at = DecodeTime(row.ColumnInt(9));
  r.updated_at = DecodeTime(row.ColumnInt(10));
  return r;
}

// Binds every column in kColumns order.
void BindRecord(Statement& s, const NodeRecord& r) {
  s.BindText(1, r.id)
      .BindText(2, r.algorithm)
      .BindText(3, r.public_key_pem)
      .BindText(4, r.previous_algorithm)
      .BindText(5, r.previous_public_key_pem)
      .BindInt(6, EncodeTime(r.previous_key_valid_until))
      .BindText(7, EncodeRoles(r.roles))
      .BindInt(8, r.enabled ? 1 : 0)
      .BindText(9, r.cert_serial)
      .BindInt(10, EncodeTime(r.created_at))
      .BindInt(11, EncodeTime(r.updated_at));
}

absl::Status NotFound(std::string_view id) {
  return absl::NotFoundError(absl::StrCat("store: node ", AbslView(id), " not found"));
}

class SqliteNodeStore final : public NodeStore {
 public:
  explicit SqliteNodeStore(std::shared_ptr<Database> database) : db_(std::move(database)) {}

  absl::StatusOr<NodeRecord> Create(const NodeRecord& record) override {
    if (absl::Status s = ValidateNodeRecord(record); !s.ok()) return s;
    NodeRecord stored = record;
    if (stored.previous_public_key_pem.empty()) {
      stored.previous_algorithm.clear();
      stored.previous_key_valid_until = absl::InfinitePast();
    }
    stored.created_at = stored.updated_at = StoredNow();
    return db_->Write([&](Connection& c) -> absl::StatusOr<NodeRecord> {
      absl::StatusOr<Statement> insert =
          c.Prepare(absl::StrCat("INSERT INTO nodes (", kColumns,
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
      if (!insert.ok()) return insert.status();
      BindRecord(*insert, stored);
      if (absl::Status s = insert->Run(); !s.ok()) {
        if (absl::IsAlreadyExists(s)) {
          return absl::AlreadyExistsError(
              absl::StrCat("store: node ", stored.id, " already exists"));
        }
        return s;
      }
      if (absl::Status s = Database::BumpGeneration(c, kCounter); !s.ok()) return s;
      return stored;
    });
  }

  absl::StatusOr<NodeRecord> Get(std::string_view id) override {
    if (absl::Status s = ValidateId("node id", id); !s.ok()) return s;
    return db_->Read([&](Connection& c) { return GetIn(c, id); });
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
    return db_->Read([&](Connection& c) -> absl::StatusOr<NodePage> {
      absl::StatusOr<Statement> select = c.Prepare(
          absl::StrCat("SELECT ", kColumns, " FROM nodes WHERE id > ?1 ORDER BY id LIMIT ?2"));
      if (!select.ok()) return select.status();
      select->BindText(1, after).BindInt(2, *size + 1);
      NodePage page;
      while (true) {
        absl::StatusOr<bool> row = select->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        if (static_cast<int>(page.records.size()) == *size) {
          page.next_page_token = EncodePageToken(page.records.back().id);
          break;
        }
        page.records.push_back(ReadRecord(*select));
      }
      return page;
    });
  }

  absl::StatusOr<NodeRecord> Update(const NodeRecord& record) override {
    if (absl::Status s = ValidateNodeRecord(record); !s.ok()) return s;
    return db_->Write([&](Connection& c) -> absl::StatusOr<NodeRecord> {
      absl::StatusOr<NodeRecord> existing = GetIn(c, record.id);
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
    return db_->Write([&](Connection& c) -> absl::Status {
      absl::StatusOr<Statement> update =
          c.Prepare("UPDATE nodes SET enabled = ?2, updated_at = ?3 WHERE id = ?1");
      if (!update.ok()) return update.status();
      if (absl::Status s = update->BindText(1, id)
                               .BindInt(2, enabled ? 1 : 0)
                               .BindInt(3, EncodeTime(StoredNow()))
                               .Run();
          !s.ok()) {
        return s;
      }
      if (c.Changes() == 0) return NotFound(id);
      return Database::BumpGeneration(c, kCounter);
    });
  }

  absl::StatusOr<NodeRecord> SetRoles(std::string_view id,
                                      const std::vector<std::string>& roles) override {
    if (absl::Status s = ValidateId("node id", id); !s.ok()) return s;
    if (absl::Status s = ValidateRoles("roles", roles); !s.ok()) return s;
    return db_->Write([&](Connection& c) -> absl::StatusOr<NodeRecord> {
      absl::StatusOr<Statement> update =
          c.Prepare("UPDATE nodes SET roles = ?2, updated_at = ?3 WHERE id = ?1");
      if (!update.ok()) return update.status();
      if (absl::Status s = update->BindText(1, id)
                               .BindText(2, EncodeRoles(roles))
                               .BindInt(3, EncodeTime(StoredNow()))
                               .Run();
          !s.ok()) {
        return s;
      }
      if (c.Changes() == 0) return NotFound(id);
      if (absl::Status s = Database::BumpGeneration(c, kCounter); !s.ok()) return s;
      return GetIn(c, id);
    });
  }

  absl::Status Remove(std::string_view id) override {
    if (absl::Status s = ValidateId("node id", id); !s.ok()) return s;
    return db_->Write([&](Connection& c) -> absl::Status {
      absl::StatusOr<Statement> remove = c.Prepare("DELETE FROM nodes WHERE id = ?1");
      if (!remove.ok()) return remove.status();
      if (absl::Status s = remove->BindText(1, id).Run(); !s.ok()) return s;
      if (c.Changes() == 0) return NotFound(id);
      return Database::BumpGeneration(c, kCounter);
    });
  }

  absl::StatusOr<NodeRecord> RotateKey(std::string_view id, std::string_view new_algorithm,
                                       std::string_view new_public_key_pem,
                                       absl::Time grace_until) override {
    if (absl::Status s = ValidateId("node id", id); !s.ok()) return s;
    if (absl::Status s = ValidateNodeKey("node new", new_algorithm, new_public_key_pem); !s.ok()) {
      return s;
    }
    return db_->Write([&](Connection& c) -> absl::StatusOr<NodeRecord> {
      absl::StatusOr<NodeRecord> stored = GetIn(c, id);
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
  static absl::StatusOr<NodeRecord> GetIn(Connection& c, std::string_view id) {
    absl::StatusOr<Statement> select =
        c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM nodes WHERE id = ?1"));
    if (!select.ok()) return select.status();
    absl::StatusOr<bool> row = select->BindText(1, id).Step();
    if (!row.ok()) return row.status();
    if (!*row) return NotFound(id);
    return ReadRecord(*select);
  }

  // Overwrites the existing row r.id and bumps the counter.
  static absl::Status Replace(Connection& c, const NodeRecord& r) {
    absl::StatusOr<Statement> update = c.Prepare(
        "UPDATE nodes SET algorithm = ?2, public_key_pem = ?3, previous_algorithm = ?4, "
        "previous_public_key_pem = ?5, previous_key_valid_until = ?6, roles = ?7, enabled = ?8, "
        "cert_serial = ?9, created_at = ?10, updated_at = ?11 WHERE id = ?1");
    if (!update.ok()) return update.status();
    BindRecord(*update, r);
    if (absl::Status s = update->Run(); !s.ok()) return s;
    if (c.Changes() != 1) return NotFound(r.id);
    return Database::BumpGeneration(c, kCounter);
  }

  const std::shared_ptr<Database> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NodeStore>> OpenSqliteNodeStore(std::shared_ptr<Database> database) {
  if (database == nullptr) return absl::InvalidArgumentError("store: node store: no database");
  return std::make_unique<SqliteNodeStore>(std::move(database));
}

}  // namespace nodegate::store
