// The console's login sessions, held in this process's memory only. POST /api/v1/login turns a
// verified token into a session: the browser's cookie carries a random session id, never the token,
// so that logout can end the session server-side and a stolen cookie dies with it (at logout, after
// the idle timeout, at the absolute expiry, or when the token is revoked — the token is re-checked
// by the Authorizer on every request).
//
// The store keys sessions by SHA-256(id): a memory dump shows no live cookie. It keeps the token
// itself beside each session, because the Authorizer has one decision path and it takes the
// credential as presented (`authorization: Bearer`). Keeping only the token's hash would need a
// second entry into Authorize() (rule's authenticators, roles, rejection counters, access-log
// reasons) that must then be kept in step with the first — a worse risk than a token held in RAM
// by the process that checks it. The token is never logged, never written to disk, and wiped when
// its session ends.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace nodegate::http {

struct SessionOptions {
  // At most this many live sessions; a new one past the cap evicts the oldest (by creation), so a
  // caller with a valid token can log in in a loop without growing the process.
  size_t max_sessions = 10000;
  // A session unused for this long is gone.
  absl::Duration idle_timeout = absl::Minutes(30);
  // A session lives at most this long from its creation, and never past its token's expiry.
  absl::Duration max_lifetime = absl::Hours(12);
  // Null: absl::Now. Tests inject a fake clock.
  std::function<absl::Time()> clock;
};

class SessionStore {
 public:
  static absl::StatusOr<std::unique_ptr<SessionStore>> New(SessionOptions options);
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  struct Created {
    std::string cookie;     // base64url (no padding) of 32 random bytes: the session id
    absl::Time expires_at;  // absolute expiry: min(created + max_lifetime, token expiry)
  };
  // A new session for `token`, which the caller has just verified; `token_expires_at` is the
  // token's own expiry (InfiniteFuture when it has none). Fails only if the DRBG fails, or when
  // the token has already expired.
  absl::StatusOr<Created> Create(std::string token, absl::Time token_expires_at);

  // The token of the live session that `cookie` names, and the session's idle timer restarts;
  // nullopt when there is no such session or it has expired (an expired one is removed).
  std::optional<std::string> Resolve(std::string_view cookie);

  // Ends the session `cookie` names; false when there was none.
  bool Delete(std::string_view cookie);

  size_t size() const;
  absl::Time Now() const { return options_.clock(); }
  const SessionOptions& options() const { return options_; }

 private:
  explicit SessionStore(SessionOptions options) : options_(std::move(options)) {}

  struct Entry {
    std::string token;
    absl::Time created;
    absl::Time last_seen;
    absl::Time expires_at;
    std::list<std::string>::iterator order;  // its place in `by_age_`
  };
  using Map = absl::flat_hash_map<std::string, Entry>;

  // SHA-256 of the decoded id; empty when `cookie` cannot be one of ours.
  static std::string Key(std::string_view cookie);
  bool Expired(const Entry& e, absl::Time now) const;
  void Erase(Map::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SessionOptions options_;
  mutable absl::Mutex mu_;
  Map sessions_ ABSL_GUARDED_BY(mu_);                   // by SHA-256(id)
  std::list<std::string> by_age_ ABSL_GUARDED_BY(mu_);  // keys, oldest first
};

}  // namespace nodegate::http
