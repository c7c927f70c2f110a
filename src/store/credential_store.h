// Stored credentials: access tokens, app keys and one-time join tokens. Secrets are never stored:
// callers pass the lower-case hex SHA-256 of the secret (64 characters; else INVALID_ARGUMENT).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nodegate::store {

// A bearer token. Roles: each 1..64 bytes of printable ASCII without ',' or space; empty = none.
struct AccessToken {
  std::string token_hash;  // hex SHA-256 of the token; the primary key
  std::string principal;   // 1..256 bytes, no control characters
  std::string kind;        // "user", "node" or "app"
  std::vector<std::string> roles;
  absl::Time expires_at = absl::InfiniteFuture();  // InfiniteFuture = never expires
  absl::Time created_at = absl::InfinitePast();    // set by the store
};

// An application key pair: the public app_key and the hash of its secret.
struct AppKey {
  std::string app_key;      // [A-Za-z0-9._-]{1,128}; the primary key
  std::string secret_hash;  // hex SHA-256 of the secret
  std::string principal;    // 1..256 bytes, no control characters
  std::vector<std::string> roles;
  bool enabled = true;
  absl::Time created_at = absl::InfinitePast();  // set by the store
};

// A one-time token that lets node_id enrol once, before expires_at.
struct JoinToken {
  std::string token_hash;  // hex SHA-256 of the token; the primary key
  std::string node_id;     // [A-Za-z0-9._-]{1,128}
  std::vector<std::string> roles;
  absl::Time expires_at = absl::InfinitePast();  // must be finite: a join token always expires
  absl::Time used_at = absl::InfinitePast();     // InfinitePast = not used yet; set by the store
  absl::Time created_at = absl::InfinitePast();  // set by the store
};

// Thread-safe. NOT_FOUND for an unknown key, ALREADY_EXISTS for a duplicate one.
class CredentialStore {
 public:
  virtual ~CredentialStore() = default;

  // Access tokens. Find does not check expiry: compare expires_at with your clock.
  virtual absl::StatusOr<AccessToken> CreateAccessToken(const AccessToken& token) = 0;
  virtual absl::StatusOr<AccessToken> FindAccessTokenByHash(std::string_view token_hash) = 0;
  virtual absl::Status RevokeAccessToken(std::string_view token_hash) = 0;
  // All tokens, expired ones included, ordered by created_at.
  virtual absl::StatusOr<std::vector<AccessToken>> ListAccessTokens() = 0;

  // App keys. A disabled key stays stored (and listed) but must not authenticate.
  virtual absl::StatusOr<AppKey> CreateAppKey(const AppKey& key) = 0;
  virtual absl::StatusOr<AppKey> GetAppKey(std::string_view app_key) = 0;
  virtual absl::Status DisableAppKey(std::string_view app_key) = 0;
  // Ordered by app_key.
  virtual absl::StatusOr<std::vector<AppKey>> ListAppKeys() = 0;

  // Join tokens.
  virtual absl::StatusOr<JoinToken> CreateJoinToken(const JoinToken& token) = 0;
  // Atomically marks the token used at `now` and returns it. NOT_FOUND if unknown,
  // FAILED_PRECONDITION if already used or now >= expires_at (the token is then left as it was).
  virtual absl::StatusOr<JoinToken> ConsumeJoinToken(std::string_view token_hash,
                                                     absl::Time now) = 0;
  // Used and expired ones included, ordered by created_at.
  virtual absl::StatusOr<std::vector<JoinToken>> ListJoinTokens() = 0;

  // Grows whenever any credential is written, by this process or another one using the same
  // database, and never decreases (the CLI waits for a node's snapshot to reach the value after
  // its write). Cheap: never waits for a writer. An error means the
  // store could not be read (as NodeStore::Generation).
  virtual absl::StatusOr<uint64_t> Generation() = 0;
};

}  // namespace nodegate::store
