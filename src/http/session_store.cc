#include "http/session_store.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "crypto/digest.h"
#include "crypto/encoding.h"
#include "crypto/random.h"

namespace nodegate::http {
namespace {

constexpr size_t kIdBytes = 32;
// base64url without padding of 32 bytes.
constexpr size_t kCookieChars = 43;

void Wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::New(SessionOptions options) {
  if (options.max_sessions == 0) {
    return absl::InvalidArgumentError(
        "http sessions: max_sessions is 0; it must be at least 1 (default 10000)");
  }
  if (options.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("http sessions: idle_timeout ",
                                                   absl::FormatDuration(options.idle_timeout),
                                                   " must be positive (default 30m)"));
  }
  if (options.max_lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("http sessions: max_lifetime ",
                                                   absl::FormatDuration(options.max_lifetime),
                                                   " must be positive (default 12h)"));
  }
  if (!options.clock) options.clock = [] { return absl::Now(); };
  return std::unique_ptr<SessionStore>(new SessionStore(std::move(options)));
}

SessionStore::~SessionStore() {
  absl::MutexLock lock(&mu_);
  for (auto& [key, e] : sessions_) Wipe(e.token);
}

std::string SessionStore::Key(std::string_view cookie) {
  if (cookie.size() != kCookieChars) return {};
  absl::StatusOr<std::string> id = crypto::Base64UrlDecode(cookie);
  if (!id.ok() || id->size() != kIdBytes) return {};
  // A lookup by hash leaks at most which hash prefixes exist, which says nothing about an id.
  return crypto::Sha256(*id);
}

bool SessionStore::Expired(const Entry& e, absl::Time now) const {
  return now >= e.expires_at || now - e.last_seen >= options_.idle_timeout;
}

void SessionStore::Erase(Map::iterator it) {
  Wipe(it->second.token);
  by_age_.erase(it->second.order);
  sessions_.erase(it);
}

absl::StatusOr<SessionStore::Created> SessionStore::Create(std::string token,
                                                           absl::Time token_expires_at) {
  const absl::Time now = Now();
  if (token_expires_at <= now) {
    Wipe(token);
    return absl::FailedPreconditionError("session: the token has expired");
  }
  absl::StatusOr<std::string> id = crypto::RandomBytes(kIdBytes);
  if (!id.ok()) {
    Wipe(token);
    return absl::InternalError(absl::StrCat("session: no random id: ", id.status().message()));
  }
  Created out{crypto::Base64UrlEncode(*id),
              std::min(now + options_.max_lifetime, token_expires_at)};
  std::string key = crypto::Sha256(*id);
  Wipe(*id);

  absl::MutexLock lock(&mu_);
  while (sessions_.size() >= options_.max_sessions && !by_age_.empty()) {
    Erase(sessions_.find(by_age_.front()));
  }
  by_age_.push_back(key);
  Entry e{std::move(token), now, now, out.expires_at, std::prev(by_age_.end())};
  // 256 random bits: a collision with a live session does not happen; if the DRBG were that
  // broken, the older session is simply replaced.
  auto [it, inserted] = sessions_.try_emplace(std::move(key));
  if (!inserted) {
    Wipe(it->second.token);
    by_age_.erase(it->second.order);
  }
  it->second = std::move(e);
  return out;
}

std::optional<std::string> SessionStore::Resolve(std::string_view cookie) {
  const std::string key = Key(cookie);
  if (key.empty()) return std::nullopt;
  const absl::Time now = Now();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return std::nullopt;
  if (Expired(it->second, now)) {
    Erase(it);
    return std::nullopt;
  }
  it->second.last_seen = now;
  return it->second.token;
}

bool SessionStore::Delete(std::string_view cookie) {
  const std::string key = Key(cookie);
  if (key.empty()) return false;
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return false;
  Erase(it);
  return true;
}

size_t SessionStore::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

}  // namespace nodegate::http
