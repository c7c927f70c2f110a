// The console's login sessions and its CSRF defences, through Gateway::Handle with a real
// Authorizer, credential cache, SessionStore (on an injected clock) and access log.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "crypto/digest.h"
#include "http/gateway.h"
#include "http/session_store.h"
#include "store/sqlite/sqlite_stores.h"
#include "testlib/auth.h"
#include "testlib/pki.h"
#include "testlib/temp_dir.h"

namespace nodegate::http {
namespace {

using Json = nlohmann::json;

constexpr char kBobToken[] = "bob-session-token-0123456789abcdef";
constexpr char kCarolToken[] = "carol-session-token-0123456789abcdef";
constexpr char kHost[] = "console.test:8443";
constexpr char kOrigin[] = "https://console.test:8443";

// Tokens that the test can revoke or give an expiry; the cache sees a change after Refresh().
class MutableSource : public auth::CredentialSource {
 public:
  void Put(const std::string& token, const std::string& who,
           absl::Time expires_at = absl::InfiniteFuture()) {
    absl::MutexLock lock(&mu_);
    auth::TokenCredential t;
    t.hash = crypto::Sha256(token);
    t.principal = who;
    t.expires_at = expires_at;
    snapshot_.tokens[t.hash] = t;
    ++generation_;
  }
  void Revoke(const std::string& token) {
    absl::MutexLock lock(&mu_);
    snapshot_.tokens.erase(crypto::Sha256(token));
    ++generation_;
  }
  absl::StatusOr<uint64_t> Generation() override {
    absl::MutexLock lock(&mu_);
    return generation_;
  }
  absl::StatusOr<auth::CredentialSnapshot> Load() override {
    absl::MutexLock lock(&mu_);
    return snapshot_;
  }

 private:
  absl::Mutex mu_;
  auth::CredentialSnapshot snapshot_;
  uint64_t generation_ = 1;
};

class SessionTest : public ::testing::Test {
 protected:
  std::unique_ptr<testlib::ScopedTempDir> dir_;  // first: removed after the stores close
  void SetUp() override {
    source_->Put(kBobToken, "bob");
    source_->Put(kCarolToken, "carol");
    Build(SessionOptions{});
  }

  void Build(SessionOptions so) {
    auth_ = testlib::ServicePolicyAuth::Make({}, source_);
    dir_ = std::make_unique<testlib::ScopedTempDir>();  // a fresh database per Build
    auto stores = store::OpenSqliteStores(dir_->File("db.sqlite"));
    ASSERT_TRUE(stores.ok()) << stores.status();
    kv_ = std::move(stores->kv);
    recent_ = std::make_shared<observe::RecentLines>(1000);
    auto log = observe::AccessLog::Open("off", recent_);
    ASSERT_TRUE(log.ok());
    pki_ = testlib::TestPki::Make();
    so.clock = [this] { return now_; };
    auto sessions = SessionStore::New(std::move(so));
    ASSERT_TRUE(sessions.ok()) << sessions.status();
    sessions_ = *std::move(sessions);

    GatewayOptions o;
    o.node_id = "test-node";
    auto set = pki_.ServerSet();
    o.credentials = [set] { return set; };
    o.authorizer = auth_.authorizer;
    o.kv = kv_;
    o.recent = recent_;
    o.access_log = *log;
    o.sessions = sessions_;
    auto g = Gateway::New(std::move(o));
    ASSERT_TRUE(g.ok()) << g.status();
    gateway_ = *std::move(g);
  }

  static HttpRequest Request(std::string method, std::string path) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.headers.emplace("host", kHost);
    r.remote = "127.0.0.1:5555";
    return r;
  }

  // What the console page sends: JSON, same origin.
  static HttpRequest LoginRequest(const std::string& token) {
    HttpRequest r = Request("POST", "/api/v1/login");
    r.headers.emplace("content-type", "application/json");
    r.headers.emplace("origin", kOrigin);
    r.headers.emplace(kCsrfHeader, "1");
    r.body = Json{{"token", token}}.dump();
    return r;
  }

  static HttpRequest LogoutRequest(const std::string& cookie) {
    HttpRequest r = Request("POST", "/api/v1/logout");
    r.headers.emplace("content-type", "application/json");
    r.headers.emplace("origin", kOrigin);
    r.headers.emplace(kCsrfHeader, "1");
    r.headers.emplace("cookie", std::string(kSessionCookie) + "=" + cookie);
    r.body = "{}";
    return r;
  }

  static HttpRequest WithCookie(HttpRequest r, const std::string& cookie) {
    r.headers.emplace("cookie", std::string(kSessionCookie) + "=" + cookie);
    return r;
  }

  static std::string SetCookie(const HttpResponse& r) {
    for (const auto& [k, v] : r.headers) {
      if (k == "Set-Cookie") return v;
    }
    return {};
  }

  // The session id from a login's Set-Cookie.
  std::string Login(const std::string& token) {
    HttpResponse r = Handle(LoginRequest(token));
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string c = SetCookie(r);
    const std::string prefix = std::string(kSessionCookie) + "=";
    EXPECT_EQ(c.rfind(prefix, 0), 0u) << c;
    return c.substr(prefix.size(), c.find(';') - prefix.size());
  }

  int GetNode(const std::string& cookie) {
    return Handle(WithCookie(Request("GET", "/api/v1/node"), cookie)).status;
  }

  // Every response is kept, so that a test can say what none of them contained.
  HttpResponse Handle(const HttpRequest& r) {
    responses_.push_back(gateway_->Handle(r));
    return responses_.back();
  }

  std::shared_ptr<MutableSource> source_ = std::make_shared<MutableSource>();
  testlib::ServicePolicyAuth auth_;
  testlib::TestPki pki_;
  std::shared_ptr<store::KvStore> kv_;
  std::shared_ptr<observe::RecentLines> recent_;
  std::shared_ptr<SessionStore> sessions_;
  std::unique_ptr<Gateway> gateway_;
  absl::Time now_ = absl::Now();
  std::vector<HttpResponse> responses_;
};

TEST_F(SessionTest, LoginSetsAStrictHttpOnlySessionCookieThatIsNotTheToken) {
  HttpResponse r = Handle(LoginRequest(kBobToken));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string cookie = SetCookie(r);
  EXPECT_NE(cookie.find("; Path=/"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; Secure"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; Max-Age=43200"), std::string::npos) << cookie;  // 12 h
  EXPECT_EQ(cookie.find(kBobToken), std::string::npos) << cookie;
  const std::string id = cookie.substr(0, cookie.find(';')).substr(sizeof(kSessionCookie));
  EXPECT_EQ(id.size(), 43u) << "base64url of 32 bytes: " << id;
  EXPECT_EQ(Json::parse(r.body)["principal"]["id"], "bob");
  EXPECT_EQ(sessions_->size(), 1u);
}

TEST_F(SessionTest, EachLoginGetsAFreshRandomSessionId) {
  EXPECT_NE(Login(kBobToken), Login(kBobToken));
}

TEST_F(SessionTest, SessionCookieAuthenticatesAGetAsTheToken) {
  const std::string cookie = Login(kBobToken);
  HttpResponse r = Handle(WithCookie(Request("GET", "/api/v1/node"), cookie));
  ASSERT_EQ(r.status, 200) << r.body;
  Json principal = Json::parse(r.body)["principal"];
  EXPECT_EQ(principal["id"], "bob");
  EXPECT_EQ(principal["authenticators"], Json::array({"token"}));
}

TEST_F(SessionTest, LogoutEndsTheSessionServerSideAndClearsTheCookie) {
  const std::string cookie = Login(kBobToken);
  ASSERT_EQ(GetNode(cookie), 200);
  HttpResponse out = Handle(LogoutRequest(cookie));
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_EQ(Json::parse(out.body)["session_ended"], true);
  const std::string cleared = SetCookie(out);
  EXPECT_EQ(cleared.rfind(std::string(kSessionCookie) + "=;", 0), 0u) << cleared;
  EXPECT_NE(cleared.find("Max-Age=0"), std::string::npos) << cleared;
  EXPECT_EQ(sessions_->size(), 0u);
  // A replayed copy of the old cookie (stolen, or a browser that ignored the clearing) is dead.
  EXPECT_EQ(GetNode(cookie), 401);
}

TEST_F(SessionTest, LogoutOfAnUnknownSessionStillClearsTheCookie) {
  HttpResponse out = Handle(LogoutRequest("not-a-session"));
  EXPECT_EQ(out.status, 200) << out.body;
  EXPECT_EQ(Json::parse(out.body)["session_ended"], false);
  EXPECT_NE(SetCookie(out).find("Max-Age=0"), std::string::npos);
}

TEST_F(SessionTest, TheTokenItselfIsNoCookie) {
  EXPECT_EQ(GetNode(kBobToken), 401);
  HttpRequest r = Request("GET", "/api/v1/node");
  r.headers.emplace("cookie", std::string("nodegate_token=") + kBobToken);  // the old cookie
  EXPECT_EQ(Handle(r).status, 401);
}

TEST_F(SessionTest, LoginRefusesNonJsonBodiesWith415) {
  for (const char* type :
       {"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x", "application/jsonx", ""}) {
    HttpRequest r = LoginRequest(kBobToken);
    r.headers.erase("content-type");
    if (*type != '\0') r.headers.emplace("content-type", type);
    HttpResponse out = Handle(r);
    EXPECT_EQ(out.status, 415) << type;
    EXPECT_TRUE(SetCookie(out).empty()) << type;
  }
  EXPECT_EQ(sessions_->size(), 0u);
}

TEST_F(SessionTest, LoginAcceptsJsonWithParameters) {
  HttpRequest r = LoginRequest(kBobToken);
  r.headers.erase("content-type");
  r.headers.emplace("content-type", "Application/JSON; charset=utf-8");
  EXPECT_EQ(Handle(r).status, 200);
}

TEST_F(SessionTest, LogoutRefusesNonJsonBodiesWith415) {
  const std::string cookie = Login(kBobToken);
  HttpRequest r = LogoutRequest(cookie);
  r.headers.erase("content-type");
  r.headers.emplace("content-type", "text/plain");
  EXPECT_EQ(Handle(r).status, 415);
  EXPECT_EQ(GetNode(cookie), 200) << "a refused logout ends nothing";
}

TEST_F(SessionTest, LoginRefusesCrossOriginRequestsWith403) {
  for (const char* origin :
       {"https://evil.test", "https://console.test:9999", "http://console.test:8443", "null",
        "https://console.test:8443.evil"}) {
    HttpRequest r = LoginRequest(kBobToken);
    r.headers.erase("origin");
    r.headers.emplace("origin", origin);
    HttpResponse out = Handle(r);
    EXPECT_EQ(out.status, 403) << origin;
    EXPECT_TRUE(SetCookie(out).empty()) << origin;
  }
  EXPECT_EQ(sessions_->size(), 0u);
}

TEST_F(SessionTest, SameOriginMatchesTheHostCaseAndDefaultPortInsensitively) {
  HttpRequest r = LoginRequest(kBobToken);
  r.headers.erase("host");
  r.headers.erase("origin");
  r.headers.emplace("host", "Console.Test:443");
  r.headers.emplace("origin", "https://console.test");
  EXPECT_EQ(Handle(r).status, 200);
}

TEST_F(SessionTest, LoginWithoutOriginIsAllowedForNonBrowserClients) {
  HttpRequest r = LoginRequest(kBobToken);
  r.headers.erase("origin");
  EXPECT_EQ(Handle(r).status, 200);
}

TEST_F(SessionTest, LoginRefusesCrossSiteFetchMetadataWith403) {
  for (const char* site : {"cross-site", "same-site"}) {
    HttpRequest r = LoginRequest(kBobToken);
    r.headers.emplace("sec-fetch-site", site);
    EXPECT_EQ(Handle(r).status, 403) << site;
  }
  HttpRequest ok = LoginRequest(kBobToken);
  ok.headers.emplace("sec-fetch-site", "same-origin");
  EXPECT_EQ(Handle(ok).status, 200);
}

TEST_F(SessionTest, LogoutRefusesCrossOriginAndMissingConsoleHeader) {
  const std::string cookie = Login(kBobToken);
  HttpRequest foreign = LogoutRequest(cookie);
  foreign.headers.erase("origin");
  foreign.headers.emplace("origin", "https://evil.test");
  EXPECT_EQ(Handle(foreign).status, 403);
  HttpRequest bare = LogoutRequest(cookie);
  bare.headers.erase(kCsrfHeader);
  EXPECT_EQ(Handle(bare).status, 403);
  EXPECT_EQ(GetNode(cookie), 200) << "a refused logout ends nothing";
}

TEST_F(SessionTest, CookieAuthenticatedStateChangeNeedsTheConsoleHeaderAndSameOrigin) {
  const std::string cookie = Login(kBobToken);
  HttpRequest put = WithCookie(Request("PUT", "/api/v1/kv/k"), cookie);
  put.body = "v";
  EXPECT_EQ(Handle(put).status, 403) << "no console header";
  put.headers.emplace(kCsrfHeader, "1");
  HttpRequest foreign = put;
  foreign.headers.emplace("origin", "https://evil.test");
  EXPECT_EQ(Handle(foreign).status, 403) << "foreign origin";
  put.headers.emplace("origin", kOrigin);
  EXPECT_EQ(Handle(put).status, 200);
}

TEST_F(SessionTest, SessionEndsAfterTheIdleTimeout) {
  const std::string cookie = Login(kBobToken);
  now_ += absl::Minutes(29);
  EXPECT_EQ(GetNode(cookie), 200);
  now_ += absl::Minutes(29);  // 58 min after login, 29 after the last use
  EXPECT_EQ(GetNode(cookie), 200);
  now_ += absl::Minutes(30);
  EXPECT_EQ(GetNode(cookie), 401);
  EXPECT_EQ(sessions_->size(), 0u) << "an expired session is removed";
}

TEST_F(SessionTest, SessionEndsAtItsAbsoluteExpiryEvenWhenInUse) {
  const std::string cookie = Login(kBobToken);
  for (int i = 0; i < 35; ++i) {  // every 20 minutes for 11 h 40 min
    now_ += absl::Minutes(20);
    ASSERT_EQ(GetNode(cookie), 200) << i;
  }
  now_ += absl::Minutes(20);  // 12 h
  EXPECT_EQ(GetNode(cookie), 401);
}

TEST_F(SessionTest, SessionNeverOutlivesItsToken) {
  const absl::Time expiry = now_ + absl::Hours(2);
  source_->Put(kCarolToken, "carol", expiry);
  ASSERT_TRUE(auth_.cache->Refresh().ok());
  HttpResponse r = Handle(LoginRequest(kCarolToken));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(SetCookie(r).find("Max-Age=7200"), std::string::npos) << SetCookie(r);
  const std::string cookie = Login(kCarolToken);
  now_ += absl::Minutes(25);
  EXPECT_EQ(GetNode(cookie), 200);
  now_ = expiry;
  EXPECT_EQ(GetNode(cookie), 401);
}

TEST_F(SessionTest, RevokedTokenEndsTheSessionAtItsNextRequest) {
  const std::string cookie = Login(kBobToken);
  ASSERT_EQ(GetNode(cookie), 200);
  source_->Revoke(kBobToken);
  ASSERT_TRUE(auth_.cache->Refresh().ok());
  HttpResponse r = Handle(WithCookie(Request("GET", "/api/v1/node"), cookie));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Json::parse(r.body)["code"], "UNAUTHENTICATED");
  const std::string line = recent_->Snapshot().back();
  EXPECT_NE(line.find("token_invalid"), std::string::npos) << line;
}

TEST_F(SessionTest, SessionCapEvictsTheOldest) {
  SessionOptions so;
  so.max_sessions = 2;
  Build(so);
  const std::string first = Login(kBobToken);
  now_ += absl::Seconds(1);
  const std::string second = Login(kCarolToken);
  now_ += absl::Seconds(1);
  const std::string third = Login(kBobToken);
  EXPECT_EQ(sessions_->size(), 2u);
  EXPECT_EQ(GetNode(first), 401);
  EXPECT_EQ(GetNode(second), 200);
  EXPECT_EQ(GetNode(third), 200);
}

TEST_F(SessionTest, ANewLoginEndsTheBrowsersPreviousSession) {
  const std::string old = Login(kBobToken);
  HttpResponse r = Handle(WithCookie(LoginRequest(kCarolToken), old));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(GetNode(old), 401);
  EXPECT_EQ(sessions_->size(), 1u);
}

TEST_F(SessionTest, StaleCookieIsExplainedInTheAccessLogOnly) {
  const std::string cookie = Login(kBobToken);
  Handle(LogoutRequest(cookie));
  HttpResponse r = Handle(WithCookie(Request("GET", "/api/v1/node"), cookie));
  ASSERT_EQ(r.status, 401);
  EXPECT_EQ(r.body.find("session"), std::string::npos) << r.body;
  const std::string line = recent_->Snapshot().back();
  EXPECT_NE(line.find("session cookie unknown or expired"), std::string::npos) << line;
}

TEST_F(SessionTest, TheTokenNeverAppearsInAnyAccessLogLineOrResponse) {
  const std::string cookie = Login(kBobToken);
  GetNode(cookie);
  HttpRequest put = WithCookie(Request("PUT", "/api/v1/kv/k"), cookie);
  put.headers.emplace(kCsrfHeader, "1");
  put.body = "v";
  Handle(put);
  HttpRequest plain = LoginRequest(kBobToken);
  plain.headers.erase("content-type");
  plain.headers.emplace("content-type", "text/plain");
  Handle(plain);
  HttpRequest foreign = LoginRequest(kBobToken);
  foreign.headers.erase("origin");
  foreign.headers.emplace("origin", "https://evil.test");
  Handle(foreign);
  source_->Revoke(kBobToken);
  ASSERT_TRUE(auth_.cache->Refresh().ok());
  Handle(LoginRequest(kBobToken));  // now refused: unknown
  GetNode(cookie);                  // refused: revoked
  Handle(LogoutRequest(cookie));
  GetNode(cookie);

  ASSERT_GE(recent_->Snapshot().size(), 8u);
  for (const std::string& line : recent_->Snapshot()) {
    EXPECT_EQ(line.find(kBobToken), std::string::npos) << line;
  }
  for (const HttpResponse& r : responses_) {
    EXPECT_EQ(r.body.find(kBobToken), std::string::npos) << r.body;
    for (const auto& [k, v] : r.headers) EXPECT_EQ(v.find(kBobToken), std::string::npos) << k;
  }
}

TEST_F(SessionTest, LoginAndLogoutAreLogged) {
  const size_t before = recent_->Snapshot().size();
  const std::string cookie = Login(kBobToken);
  Handle(LogoutRequest(cookie));
  std::vector<std::string> lines = recent_->Snapshot();
  ASSERT_EQ(lines.size(), before + 2);
  EXPECT_EQ(Json::parse(lines[before])["method"], "POST /api/v1/login");
  EXPECT_EQ(Json::parse(lines[before])["principal"], "user:bob");
  EXPECT_EQ(Json::parse(lines[before + 1])["method"], "POST /api/v1/logout");
}

// SessionStore on its own.

TEST(SessionStoreTest, NewRejectsAZeroCapOrTimeouts) {
  SessionOptions cap;
  cap.max_sessions = 0;
  EXPECT_FALSE(SessionStore::New(cap).ok());
  SessionOptions idle;
  idle.idle_timeout = absl::ZeroDuration();
  EXPECT_FALSE(SessionStore::New(idle).ok());
  SessionOptions life;
  life.max_lifetime = absl::Seconds(-1);
  EXPECT_FALSE(SessionStore::New(life).ok());
}

TEST(SessionStoreTest, ResolvesOnlyTheExactCookie) {
  auto store = *SessionStore::New(SessionOptions{});
  auto created = store->Create("tok", absl::InfiniteFuture());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(store->Resolve(created->cookie), "tok");
  std::string flipped = created->cookie;
  flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(store->Resolve(flipped).has_value());
  EXPECT_FALSE(store->Resolve(created->cookie + "A").has_value());
  EXPECT_FALSE(store->Resolve("").has_value());
  EXPECT_FALSE(store->Delete(flipped));
  EXPECT_TRUE(store->Delete(created->cookie));
  EXPECT_FALSE(store->Resolve(created->cookie).has_value());
}

TEST(SessionStoreTest, RefusesAnAlreadyExpiredToken) {
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  SessionOptions o;
  o.clock = [&] { return now; };
  auto store = *SessionStore::New(o);
  EXPECT_EQ(store->Create("tok", now).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->size(), 0u);
}

}  // namespace
}  // namespace nodegate::http
