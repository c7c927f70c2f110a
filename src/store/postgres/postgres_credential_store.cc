// CredentialStore on PostgreSQL: the same rules and messages as SqliteCredentialStore. A join
// token is consumed by one conditional UPDATE, so two replicas racing with it cannot both win.
#include <utility>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/codec.h"
#include "store/postgres/postgres_stores.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

constexpr char kCounter[] = "credentials";

constexpr char kTokenColumns[] = "token_hash, principal, kind, roles, expires_at, created_at";
constexpr char kAppKeyColumns[] = "app_key, secret_hash, principal, roles, enabled, created_at";
constexpr char kJoinColumns[] = "token_hash, node_id, roles, expires_at, used_at, created_at";

AccessToken ReadToken(const PgResult& r, int row) {
  AccessToken t;
  t.token_hash = r.Bytes(row, 0);
  t.principal = r.Bytes(row, 1);
  t.kind = r.Bytes(row, 2);
  t.roles = DecodeRoles(r.Bytes(row, 3));
  t.expires_at = DecodeTime(r.Int(row, 4));
  t.created_at = DecodeTime(r.Int(row, 5));
  return t;
}

AppKey ReadAppKey(const PgResult& r, int row) {
  AppKey k;
  k.app_key = r.Bytes(row, 0);
  k.secret_hash = r.Bytes(row, 1);
  k.principal = r.Bytes(row, 2);
  k.roles = DecodeRoles(r.Bytes(row, 3));
  k.enabled = r.Bool(row, 4);
  k.created_at = DecodeTime(r.Int(row, 5));
  return k;
}

JoinToken ReadJoinToken(const PgResult& r, int row) {
  JoinToken t;
  t.token_hash = r.Bytes(row, 0);
  t.node_id = r.Bytes(row, 1);
  t.roles = DecodeRoles(r.Bytes(row, 2));
  t.expires_at = DecodeTime(r.Int(row, 3));
  t.used_at = DecodeTime(r.Int(row, 4));
  t.created_at = DecodeTime(r.Int(row, 5));
  return t;
}

template <typename T, typename Reader>
std::vector<T> ReadAll(const PgResult& rows, Reader read) {
  std::vector<T> out;
  out.reserve(rows.rows());
  for (int i = 0; i < rows.rows(); ++i) out.push_back(read(rows, i));
  return out;
}

// Runs an INSERT; maps a duplicate key to ALREADY_EXISTS naming `what`, then bumps the counter.
absl::Status InsertAndBump(PgConnection& c, std::string_view sql, const PgParams& params,
                           std::string_view what) {
  absl::StatusOr<PgResult> insert = c.Execute(sql, params);
  if (!insert.ok()) {
    if (absl::IsAlreadyExists(insert.status())) {
      return absl::AlreadyExistsError(absl::StrCat("store: ", AbslView(what), " already exists"));
    }
    return insert.status();
  }
  return PgDatabase::BumpGeneration(c, kCounter);
}

class PostgresCredentialStore final : public CredentialStore {
 public:
  explicit PostgresCredentialStore(std::shared_ptr<PgDatabase> database)
      : db_(std::move(database)) {}

  absl::StatusOr<AccessToken> CreateAccessToken(const AccessToken& token) override {
    if (absl::Status s = ValidateAccessToken(token); !s.ok()) return s;
    AccessToken stored = token;
    stored.created_at = StoredNow();
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<AccessToken> {
      if (absl::Status s = InsertAndBump(c,
                                         absl::StrCat("INSERT INTO access_tokens (", kTokenColumns,
                                                      ") VALUES ($1, $2, $3, $4, $5, $6)"),
                                         PgParams()
                                             .Text(stored.token_hash)
                                             .Bytes(stored.principal)
                                             .Text(stored.kind)
                                             .Text(EncodeRoles(stored.roles))
                                             .Int(EncodeTime(stored.expires_at))
                                             .Int(EncodeTime(stored.created_at)),
                                         "access token");
          !s.ok()) {
        return s;
      }
      return stored;
    });
  }

  absl::StatusOr<AccessToken> FindAccessTokenByHash(std::string_view token_hash) override {
    if (absl::Status s = ValidateSha256Hex("access token hash", token_hash); !s.ok()) return s;
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<AccessToken> {
      absl::StatusOr<PgResult> rows = c.Execute(
          absl::StrCat("SELECT ", kTokenColumns, " FROM access_tokens WHERE token_hash = $1"),
          PgParams().Text(token_hash));
      if (!rows.ok()) return rows.status();
      if (rows->rows() == 0) return absl::NotFoundError("store: access token not found");
      return ReadToken(*rows, 0);
    });
  }

  absl::Status RevokeAccessToken(std::string_view token_hash) override {
    if (absl::Status s = ValidateSha256Hex("access token hash", token_hash); !s.ok()) return s;
    return DeleteOne("DELETE FROM access_tokens WHERE token_hash = $1", token_hash,
                     "store: access token not found");
  }

  absl::StatusOr<std::vector<AccessToken>> ListAccessTokens() override {
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<std::vector<AccessToken>> {
      absl::StatusOr<PgResult> rows = c.Execute(absl::StrCat(
          "SELECT ", kTokenColumns, " FROM access_tokens ORDER BY created_at, token_hash"));
      if (!rows.ok()) return rows.status();
      return ReadAll<AccessToken>(*rows, ReadToken);
    });
  }

  absl::StatusOr<AppKey> CreateAppKey(const AppKey& key) override {
    if (absl::Status s = ValidateAppKey(key); !s.ok()) return s;
    AppKey stored = key;
    stored.created_at = StoredNow();
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<AppKey> {
      if (absl::Status s = InsertAndBump(c,
                                         absl::StrCat("INSERT INTO app_keys (", kAppKeyColumns,
                                                      ") VALUES ($1, $2, $3, $4, $5, $6)"),
                                         PgParams()
                                             .Text(stored.app_key)
                                             .Text(stored.secret_hash)
                                             .Bytes(stored.principal)
                                             .Text(EncodeRoles(stored.roles))
                                             .Bool(stored.enabled)
                                             .Int(EncodeTime(stored.created_at)),
                                         absl::StrCat("app key ", stored.app_key));
          !s.ok()) {
        return s;
      }
      return stored;
    });
  }

  absl::StatusOr<AppKey> GetAppKey(std::string_view app_key) override {
    if (absl::Status s = ValidateId("app key", app_key); !s.ok()) return s;
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<AppKey> {
      absl::StatusOr<PgResult> rows =
          c.Execute(absl::StrCat("SELECT ", kAppKeyColumns, " FROM app_keys WHERE app_key = $1"),
                    PgParams().Text(app_key));
      if (!rows.ok()) return rows.status();
      if (rows->rows() == 0) {
        return absl::NotFoundError(
            absl::StrCat("store: app key ", AbslView(app_key), " not found"));
      }
      return ReadAppKey(*rows, 0);
    });
  }

  absl::Status DisableAppKey(std::string_view app_key) override {
    if (absl::Status s = ValidateId("app key", app_key); !s.ok()) return s;
    return db_->Write([&](PgConnection& c) -> absl::Status {
      absl::StatusOr<PgResult> update = c.Execute(
          "UPDATE app_keys SET enabled = false WHERE app_key = $1", PgParams().Text(app_key));
      if (!update.ok()) return update.status();
      if (update->affected() == 0) {
        return absl::NotFoundError(
            absl::StrCat("store: app key ", AbslView(app_key), " not found"));
      }
      return PgDatabase::BumpGeneration(c, kCounter);
    });
  }

  absl::StatusOr<std::vector<AppKey>> ListAppKeys() override {
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<std::vector<AppKey>> {
      absl::StatusOr<PgResult> rows =
          c.Execute(absl::StrCat("SELECT ", kAppKeyColumns, " FROM app_keys ORDER BY app_key"));
      if (!rows.ok()) return rows.status();
      return ReadAll<AppKey>(*rows, ReadAppKey);
    });
  }

  absl::StatusOr<JoinToken> CreateJoinToken(const JoinToken& token) override {
    if (absl::Status s = ValidateJoinToken(token); !s.ok()) return s;
    JoinToken stored = token;
    stored.used_at = absl::InfinitePast();
    stored.created_at = StoredNow();
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<JoinToken> {
      if (absl::Status s = InsertAndBump(c,
                                         absl::StrCat("INSERT INTO join_tokens (", kJoinColumns,
                                                      ") VALUES ($1, $2, $3, $4, $5, $6)"),
                                         PgParams()
                                             .Text(stored.token_hash)
                                             .Text(stored.node_id)
                                             .Text(EncodeRoles(stored.roles))
                                             .Int(EncodeTime(stored.expires_at))
                                             .Int(EncodeTime(stored.used_at))
                                             .Int(EncodeTime(stored.created_at)),
                                         "join token");
          !s.ok()) {
        return s;
      }
      return stored;
    });
  }

  absl::StatusOr<JoinToken> ConsumeJoinToken(std::string_view token_hash, absl::Time now) override {
    if (absl::Status s = ValidateSha256Hex("join token hash", token_hash); !s.ok()) return s;
    if (now == absl::InfinitePast() || now == absl::InfiniteFuture()) {
      return absl::InvalidArgumentError("store: join token: now must be a finite time");
    }
    const int64_t now_us = absl::ToUnixMicros(now);
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<JoinToken> {
      // One statement checks and marks: a second replica's UPDATE waits for the first one's row
      // lock, then re-checks used_at against the committed row and matches nothing.
      absl::StatusOr<PgResult> used = c.Execute(
          absl::StrCat("UPDATE join_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at = "
                       "$3 AND expires_at > $2 RETURNING ",
                       kJoinColumns),
          PgParams().Text(token_hash).Int(now_us).Int(EncodeTime(absl::InfinitePast())));
      if (!used.ok()) return used.status();
      if (used->rows() == 1) {
        if (absl::Status s = PgDatabase::BumpGeneration(c, kCounter); !s.ok()) return s;
        return ReadJoinToken(*used, 0);
      }
      // Nothing matched: say why, from the row as it is now.
      absl::StatusOr<PgResult> rows = c.Execute(
          absl::StrCat("SELECT ", kJoinColumns, " FROM join_tokens WHERE token_hash = $1"),
          PgParams().Text(token_hash));
      if (!rows.ok()) return rows.status();
      if (rows->rows() == 0) return absl::NotFoundError("store: join token not found");
      if (ReadJoinToken(*rows, 0).used_at != absl::InfinitePast()) {
        return absl::FailedPreconditionError("store: join token already used");
      }
      return absl::FailedPreconditionError("store: join token expired");
    });
  }

  absl::StatusOr<std::vector<JoinToken>> ListJoinTokens() override {
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<std::vector<JoinToken>> {
      absl::StatusOr<PgResult> rows = c.Execute(absl::StrCat(
          "SELECT ", kJoinColumns, " FROM join_tokens ORDER BY created_at, token_hash"));
      if (!rows.ok()) return rows.status();
      return ReadAll<JoinToken>(*rows, ReadJoinToken);
    });
  }

  absl::StatusOr<uint64_t> Generation() override { return db_->Generation(kCounter); }

 private:
  absl::Status DeleteOne(const char* sql, std::string_view key, const char* not_found) {
    return db_->Write([&](PgConnection& c) -> absl::Status {
      absl::StatusOr<PgResult> remove = c.Execute(sql, PgParams().Text(key));
      if (!remove.ok()) return remove.status();
      if (remove->affected() == 0) return absl::NotFoundError(not_found);
      return PgDatabase::BumpGeneration(c, kCounter);
    });
  }

  const std::shared_ptr<PgDatabase> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CredentialStore>> OpenPostgresCredentialStore(
    std::shared_ptr<PgDatabase> database) {
  if (database == nullptr) {
    return absl::InvalidArgumentError("store: credential store: no database");
  }
  return std::make_unique<PostgresCredentialStore>(std::move(database));
}

}  // namespace nodegate::store
