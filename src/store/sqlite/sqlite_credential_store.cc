#include "store/sqlite/sqlite_credential_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/codec.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

constexpr char kCounter[] = "credentials";

constexpr char kTokenColumns[] = "token_hash, principal, kind, roles, expires_at, created_at";
constexpr char kAppKeyColumns[] = "app_key, secret_hash, principal, roles, enabled, created_at";
constexpr char kJoinColumns[] = "token_hash, node_id, roles, expires_at, used_at, created_at";

AccessToken ReadToken(const Statement& row) {
  AccessToken t;
  t.token_hash = row.ColumnText(0);
  t.principal = row.ColumnText(1);
  t.kind = row.ColumnText(2);
  t.roles = DecodeRoles(row.ColumnText(3));
  t.expires_at = DecodeTime(row.ColumnInt(4));
  t.created_at = DecodeTime(row.ColumnInt(5));
  return t;
}

AppKey ReadAppKey(const Statement& row) {
  AppKey k;
  k.app_key = row.ColumnText(0);
  k.secret_hash = row.ColumnText(1);
  k.principal = row.ColumnText(2);
  k.roles = DecodeRoles(row.ColumnText(3));
  k.enabled = row.ColumnInt(4) != 0;
  k.created_at = DecodeTime(row.ColumnInt(5));
  return k;
}

JoinToken ReadJoinToken(const Statement& row) {
  JoinToken t;
  t.token_hash = row.ColumnText(0);
  t.node_id = row.ColumnText(1);
  t.roles = DecodeRoles(row.ColumnText(2));
  t.expires_at = DecodeTime(row.ColumnInt(3));
  t.used_at = DecodeTime(row.ColumnInt(4));
  t.created_at = DecodeTime(row.ColumnInt(5));
  return t;
}

template <typename T, typename Reader>
absl::StatusOr<std::vector<T>> ReadAll(Statement& select, Reader read) {
  std::vector<T> out;
  while (true) {
    absl::StatusOr<bool> row = select.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(read(select));
  }
}

// Inserts with `insert` (already bound); maps a duplicate key to ALREADY_EXISTS naming `what`.
absl::Status InsertAndBump(Connection& c, Statement& insert, std::string_view what) {
  if (absl::Status s = insert.Run(); !s.ok()) {
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat("store: ", AbslView(what), " already exists"));
    }
    return s;
  }
  return Database::BumpGeneration(c, kCounter);
}

class SqliteCredentialStore final : public CredentialStore {
 public:
  explicit SqliteCredentialStore(std::shared_ptr<Database> database) : db_(std::move(database)) {}

  absl::StatusOr<AccessToken> CreateAccessToken(const AccessToken& token) override {
    if (absl::Status s = ValidateAccessToken(token); !s.ok()) return s;
    AccessToken stored = token;
    stored.created_at = StoredNow();
    return db_->Write([&](Connection& c) -> absl::StatusOr<AccessToken> {
      absl::StatusOr<Statement> insert = c.Prepare(absl::StrCat(
          "INSERT INTO access_tokens (", kTokenColumns, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
      if (!insert.ok()) return insert.status();
      insert->BindText(1, stored.token_hash)
          .BindText(2, stored.principal)
          .BindText(3, stored.kind)
          .BindText(4, EncodeRoles(stored.roles))
          .BindInt(5, EncodeTime(stored.expires_at))
          .BindInt(6, EncodeTime(stored.created_at));
      if (absl::Status s = InsertAndBump(c, *insert, "access token"); !s.ok()) return s;
      return stored;
    });
  }

  absl::StatusOr<AccessToken> FindAccessTokenByHash(std::string_view token_hash) override {
    if (absl::Status s = ValidateSha256Hex("access token hash", token_hash); !s.ok()) return s;
    return db_->Read([&](Connection& c) -> absl::StatusOr<AccessToken> {
      absl::StatusOr<Statement> select = c.Prepare(
          absl::StrCat("SELECT ", kTokenColumns, " FROM access_tokens WHERE token_hash = ?1"));
      if (!select.ok()) return select.status();
      absl::StatusOr<bool> row = select->BindText(1, token_hash).Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::NotFoundError("store: access token not found");
      return ReadToken(*select);
    });
  }

  absl::Status RevokeAccessToken(std::string_view token_hash) override {
    if (absl::Status s = ValidateSha256Hex("access token hash", token_hash); !s.ok()) return s;
    return DeleteOne("DELETE FROM access_tokens WHERE token_hash = ?1", token_hash,
                     "store: access token not found");
  }

  absl::StatusOr<std::vector<AccessToken>> ListAccessTokens() override {
    return db_->Read([&](Connection& c) -> absl::StatusOr<std::vector<AccessToken>> {
      absl::StatusOr<Statement> select = c.Prepare(absl::StrCat(
          "SELECT ", kTokenColumns, " FROM access_tokens ORDER BY created_at, token_hash"));
      if (!select.ok()) return select.status();
      return ReadAll<AccessToken>(*select, ReadToken);
    });
  }

  absl::StatusOr<AppKey> CreateAppKey(const AppKey& key) override {
    if (absl::Status s = ValidateAppKey(key); !s.ok()) return s;
    AppKey stored = key;
    stored.created_at = StoredNow();
    return db_->Write([&](Connection& c) -> absl::StatusOr<AppKey> {
      absl::StatusOr<Statement> insert = c.Prepare(absl::StrCat(
          "INSERT INTO app_keys (", kAppKeyColumns, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
      if (!insert.ok()) return insert.status();
      insert->BindText(1, stored.app_key)
          .BindText(2, stored.secret_hash)
          .BindText(3, stored.principal)
          .BindText(4, EncodeRoles(stored.roles))
          .BindInt(5, stored.enabled ? 1 : 0)
          .BindInt(6, EncodeTime(stored.created_at));
      if (absl::Status s = InsertAndBump(c, *insert, absl::StrCat("app key ", stored.app_key));
          !s.ok()) {
        return s;
      }
      return stored;
    });
  }

  absl::StatusOr<AppKey> GetAppKey(std::string_view app_key) override {
    if (absl::Status s = ValidateId("app key", app_key); !s.ok()) return s;
    return db_->Read([&](Connection& c) -> absl::StatusOr<AppKey> {
      absl::StatusOr<Statement> select =
          c.Prepare(absl::StrCat("SELECT ", kAppKeyColumns, " FROM app_keys WHERE app_key = ?1"));
      if (!select.ok()) return select.status();
      absl::StatusOr<bool> row = select->BindText(1, app_key).Step();
      if (!row.ok()) return row.status();
      if (!*row)
        return absl::NotFoundError(
            absl::StrCat("store: app key ", AbslView(app_key), " not found"));
      return ReadAppKey(*select);
    });
  }

  absl::Status DisableAppKey(std::string_view app_key) override {
    if (absl::Status s = ValidateId("app key", app_key); !s.ok()) return s;
    return db_->Write([&](Connection& c) -> absl::Status {
      absl::StatusOr<Statement> update =
          c.Prepare("UPDATE app_keys SET enabled = 0 WHERE app_key = ?1");
      if (!update.ok()) return update.status();
      if (absl::Status s = update->BindText(1, app_key).Run(); !s.ok()) return s;
      if (c.Changes() == 0) {
        return absl::NotFoundError(
            absl::StrCat("store: app key ", AbslView(app_key), " not found"));
      }
      return Database::BumpGeneration(c, kCounter);
    });
  }

  absl::StatusOr<std::vector<AppKey>> ListAppKeys() override {
    return db_->Read([&](Connection& c) -> absl::StatusOr<std::vector<AppKey>> {
      absl::StatusOr<Statement> select =
          c.Prepare(absl::StrCat("SELECT ", kAppKeyColumns, " FROM app_keys ORDER BY app_key"));
      if (!select.ok()) return select.status();
      return ReadAll<AppKey>(*select, ReadAppKey);
    });
  }

  absl::StatusOr<JoinToken> CreateJoinToken(const JoinToken& token) override {
    if (absl::Status s = ValidateJoinToken(token); !s.ok()) return s;
    JoinToken stored = token;
    stored.used_at = absl::InfinitePast();
    stored.created_at = StoredNow();
    return db_->Write([&](Connection& c) -> absl::StatusOr<JoinToken> {
      absl::StatusOr<Statement> insert = c.Prepare(absl::StrCat(
          "INSERT INTO join_tokens (", kJoinColumns, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
      if (!insert.ok()) return insert.status();
      insert->BindText(1, stored.token_hash)
          .BindText(2, stored.node_id)
          .BindText(3, EncodeRoles(stored.roles))
          .BindInt(4, EncodeTime(stored.expires_at))
          .BindInt(5, EncodeTime(stored.used_at))
          .BindInt(6, EncodeTime(stored.created_at));
      if (absl::Status s = InsertAndBump(c, *insert, "join token"); !s.ok()) return s;
      return stored;
    });
  }

  absl::StatusOr<JoinToken> ConsumeJoinToken(std::string_view token_hash, absl::Time now) override {
    if (absl::Status s = ValidateSha256Hex("join token hash", token_hash); !s.ok()) return s;
    if (now == absl::InfinitePast() || now == absl::InfiniteFuture()) {
      return absl::InvalidArgumentError("store: join token: now must be a finite time");
    }
    // Read, check and mark in one write transaction: two callers racing with the same token
    // cannot both see it unused.
    return db_->Write([&](Connection& c) -> absl::StatusOr<JoinToken> {
      JoinToken token;
      {
        absl::StatusOr<Statement> select = c.Prepare(
            absl::StrCat("SELECT ", kJoinColumns, " FROM join_tokens WHERE token_hash = ?1"));
        if (!select.ok()) return select.status();
        absl::StatusOr<bool> row = select->BindText(1, token_hash).Step();
        if (!row.ok()) return row.status();
        if (!*row) return absl::NotFoundError("store: join token not found");
        token = ReadJoinToken(*select);
      }
      if (token.used_at != absl::InfinitePast()) {
        return absl::FailedPreconditionError("store: join token already used");
      }
      if (now >= token.expires_at) {
        return absl::FailedPreconditionError("store: join token expired");
      }
      token.used_at = absl::FromUnixMicros(absl::ToUnixMicros(now));
      absl::StatusOr<Statement> update =
          c.Prepare("UPDATE join_tokens SET used_at = ?2 WHERE token_hash = ?1");
      if (!update.ok()) return update.status();
      if (absl::Status s =
              update->BindText(1, token_hash).BindInt(2, EncodeTime(token.used_at)).Run();
          !s.ok()) {
        return s;
      }
      if (absl::Status s = Database::BumpGeneration(c, kCounter); !s.ok()) return s;
      return token;
    });
  }

  absl::StatusOr<std::vector<JoinToken>> ListJoinTokens() override {
    return db_->Read([&](Connection& c) -> absl::StatusOr<std::vector<JoinToken>> {
      absl::StatusOr<Statement> select = c.Prepare(absl::StrCat(
          "SELECT ", kJoinColumns, " FROM join_tokens ORDER BY created_at, token_hash"));
      if (!select.ok()) return select.status();
      return ReadAll<JoinToken>(*select, ReadJoinToken);
    });
  }

  absl::StatusOr<uint64_t> Generation() override { return db_->Generation(kCounter); }

 private:
  absl::Status DeleteOne(const char* sql, std::string_view key, const char* not_found) {
    return db_->Write([&](Connection& c) -> absl::Status {
      absl::StatusOr<Statement> remove = c.Prepare(sql);
      if (!remove.ok()) return remove.status();
      if (absl::Status s = remove->BindText(1, key).Run(); !s.ok()) return s;
      if (c.Changes() == 0) return absl::NotFoundError(not_found);
      return Database::BumpGeneration(c, kCounter);
    });
  }

  const std::shared_ptr<Database> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CredentialStore>> OpenSqliteCredentialStore(
    std::shared_ptr<Database> database) {
  if (database == nullptr) {
    return absl::InvalidArgumentError("store: credential store: no database");
  }
  return std::make_unique<SqliteCredentialStore>(std::move(database));
}

}  // namespace nodegate::store
