// http::Gateway as a specification: every data route goes through the node's Authorizer with the
// HTTP caller's credentials; refusals map to 401/403; the routes do what they say.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/console_assets.h"
#include "http/gateway.h"
#include "observe/metrics.h"
#include "store/sqlite/sqlite_stores.h"
#include "testlib/auth.h"
#include "testlib/pki.h"
#include "testlib/temp_dir.h"

namespace nodegate::http {
namespace {

using ::nodegate::testlib::kAdminToken;
using ::nodegate::testlib::kUserToken;
using ::nodegate::testlib::ServicePolicyAuth;
using Json = nlohmann::json;

class GatewayTest : public ::testing::Test {
 protected:
  std::unique_ptr<testlib::ScopedTempDir> dir_;  // first: removed after the stores close
  void SetUp() override { Build({}); }

  void Build(std::vector<auth::Rule> rules) {
    auth_ = ServicePolicyAuth::Make(std::move(rules));
    dir_ = std::make_unique<testlib::ScopedTempDir>();  // a fresh database per Build
    auto stores = store::OpenSqliteStores(dir_->File("db.sqlite"));
    ASSERT_TRUE(stores.ok()) << stores.status();
    kv_ = std::move(stores->kv);
    nodes_ = std::move(stores->nodes);
    metrics_ =
        std::make_shared<observe::Metrics>(std::vector<std::string>{"/api.DiceService/RollDie"});
    recent_ = std::make_shared<observe::RecentLines>(100);
    auto log = observe::AccessLog::Open("off", recent_);
    ASSERT_TRUE(log.ok());
    pki_ = testlib::TestPki::Make();
    GatewayOptions o;
    o.node_id = "test-node";
    auto set = pki_.ServerSet();
    o.credentials = [set] { return set; };
    o.listeners = [] {
      return std::vector<std::pair<std::string, std::string>>{{"grpc", "127.0.0.1:1"}};
    };
    o.authorizer = auth_.authorizer;
    o.services = {"api.DiceService", "nodegate.v1.KeyValue"};
    o.nodes = nodes_;
    o.kv = kv_;
    o.metrics = metrics_;
    o.recent = recent_;
    o.access_log = *log;
    o.roll_die = [this] {
      ++rolls_;
      return absl::StatusOr<int>(4);
    };
    o.ready = [this] { return ready_; };
    o.ready_details = [this] {
      return std::vector<std::pair<std::string, double>>{{"credential_snapshot_age_seconds", age_}};
    };
    auto g = Gateway::New(std::move(o));
    ASSERT_TRUE(g.ok()) << g.status();
    gateway_ = *std::move(g);
  }

  HttpResponse Call(std::string method, std::string path, const char* token = nullptr,
                    std::string body = "") {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    if (token != nullptr) r.headers.emplace("authorization", std::string("Bearer ") + token);
    r.body = std::move(body);
    r.remote = "127.0.0.1:5555";
    return gateway_->Handle(r);
  }

  static Json Body(const HttpResponse& r) { return Json::parse(r.body); }

  ServicePolicyAuth auth_;
  testlib::TestPki pki_;
  std::shared_ptr<store::KvStore> kv_;
  std::shared_ptr<store::NodeStore> nodes_;
  std::shared_ptr<observe::Metrics> metrics_;
  std::shared_ptr<observe::RecentLines> recent_;
  std::unique_ptr<Gateway> gateway_;
  int rolls_ = 0;
  absl::Status ready_ = absl::OkStatus();
  double age_ = 0.5;
};

TEST_F(GatewayTest, RouteMethodsNameTheGrpcMethodsWhosePolicyApplies) {
  EXPECT_EQ(Gateway::RouteMethod("GET", "/api/v1/node"), "/nodegate.v1.Identity/WhoAmI");
  EXPECT_EQ(Gateway::RouteMethod("POST", "/api/v1/dice/roll"), "/api.DiceService/RollDie");
  EXPECT_EQ(Gateway::RouteMethod("GET", "/api/v1/nodes"), "/nodegate.v1.NodeRegistry/ListNodes");
  EXPECT_EQ(Gateway::RouteMethod("GET", "/api/v1/kv"), "/nodegate.v1.KeyValue/Keys");
  EXPECT_EQ(Gateway::RouteMethod("GET", "/api/v1/kv/a/b"), "/nodegate.v1.KeyValue/Get");
  EXPECT_EQ(Gateway::RouteMethod("PUT", "/api/v1/kv/a"), "/nodegate.v1.KeyValue/Set");
  EXPECT_EQ(Gateway::RouteMethod("DELETE", "/api/v1/kv/a"), "/nodegate.v1.KeyValue/Delete");
  EXPECT_EQ(Gateway::RouteMethod("GET", "/metrics"), kConsoleMetricsMethod);
  EXPECT_EQ(Gateway::RouteMethod("GET", "/healthz"), "/grpc.health.v1.Health/Check");
  EXPECT_EQ(Gateway::RouteMethod("GET", "/index.html"), "");
}

TEST_F(GatewayTest, RefusesRequestWithoutCredentialsWith401) {
  for (const char* path :
       {"/api/v1/node", "/api/v1/kv", "/metrics", "/api/v1/policy", "/api/v1/access-log"}) {
    HttpResponse r = Call("GET", path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(Body(r)["code"], "UNAUTHENTICATED") << path;
  }
  EXPECT_EQ(Call("POST", "/api/v1/dice/roll", nullptr, "{}").status, 401);
  EXPECT_EQ(rolls_, 0) << "no roll without credentials";
}

TEST_F(GatewayTest, UnauthorizedResponseAsksForBearer) {
  HttpResponse r = Call("GET", "/api/v1/node");
  bool found = false;
  for (const auto& [k, v] : r.headers) found |= k == "WWW-Authenticate" && v == "Bearer";
  EXPECT_TRUE(found);
}

TEST_F(GatewayTest, RefusesUnknownTokenWith401) {
  EXPECT_EQ(Call("GET", "/api/v1/node", "not-a-token").status, 401);
}

TEST_F(GatewayTest, RefusesMissingRoleWith403) {
  HttpResponse r = Call("GET", "/api/v1/nodes", kUserToken);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Body(r)["code"], "PERMISSION_DENIED");
  EXPECT_EQ(Call("GET", "/api/v1/nodes", kAdminToken).status, 200);
}

TEST_F(GatewayTest, ConfigRulesGovernPseudoMethods) {
  auth::Rule admin_metrics;
  admin_metrics.pattern = kConsoleMetricsMethod;
  admin_metrics.roles = {"admin"};
  Build({admin_metrics});
  EXPECT_EQ(Call("GET", "/metrics", kUserToken).status, 403);
  EXPECT_EQ(Call("GET", "/metrics", kAdminToken).status, 200);
}

TEST_F(GatewayTest, NodeShowsIdCertificateAndPrincipal) {
  HttpResponse r = Call("GET", "/api/v1/node", kUserToken);
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = Body(r);
  EXPECT_EQ(j["node_id"], "test-node");
  EXPECT_EQ(j["principal"]["id"], "bob");
  EXPECT_EQ(j["principal"]["authenticators"], Json::array({"token"}));
  EXPECT_EQ(j["certificate"]["subject"], pki_.ServerSet()->leaf.subject);
  EXPECT_GE(j["certificate"]["days_left"].get<int>(), 363);
  EXPECT_EQ(j["certificate"]["fingerprint_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(j["listeners"][0]["name"], "grpc");
}

TEST_F(GatewayTest, ClientCertificateAloneAuthenticates) {
  HttpRequest r;
  r.method = "GET";
  r.path = "/api/v1/node";
  r.peer.authenticated = true;
  r.peer.common_name = "dev-client";
  r.peer.spiffe_id = "spiffe://nodegate.local/node/dev-client";
  HttpResponse out = gateway_->Handle(r);
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_EQ(Body(out)["principal"]["authenticators"], Json::array({"mtls"}));
}

TEST_F(GatewayTest, DiceRollCallsTheServiceOnceAuthorized) {
  HttpResponse r = Call("POST", "/api/v1/dice/roll", kUserToken, "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["face"], 4);
  EXPECT_EQ(Body(r)["via"], "/api.DiceService/RollDie");
  EXPECT_EQ(rolls_, 1);
}

TEST_F(GatewayTest, DiceRollIsLoggedOnceAsTheHttpRequest) {
  uint64_t before = recent_->total();
  ASSERT_EQ(Call("POST", "/api/v1/dice/roll", kUserToken, "{}").status, 200);
  ASSERT_EQ(recent_->total(), before + 1);
  Json line = Json::parse(recent_->Snapshot().back());
  EXPECT_EQ(line["method"], "POST /api/v1/dice/roll");
  EXPECT_EQ(line["principal"], "user:bob");
  EXPECT_EQ(line["status"], "OK");
}

TEST_F(GatewayTest, SwappedAppKeyHeadersNeverPutTheSecretInTheAccessLog) {
  const std::string secret = "ngs_swapped-secret-0123456789abcdef";
  HttpRequest r;
  r.method = "GET";
  r.path = "/api/v1/node";
  r.headers.emplace("app-key", secret);
  r.headers.emplace("app-secret", "billing");
  r.remote = "127.0.0.1:5555";
  HttpResponse out = gateway_->Handle(r);
  EXPECT_EQ(out.status, 401);
  EXPECT_EQ(out.body.find(secret), std::string::npos);
  ASSERT_FALSE(recent_->Snapshot().empty());
  const std::string line = recent_->Snapshot().back();
  EXPECT_EQ(line.find(secret), std::string::npos) << line;
  EXPECT_NE(line.find("app_key_invalid"), std::string::npos) << line;
}

TEST_F(GatewayTest, AccessLogRouteStaysValidJsonAfterInvalidUtf8FromAnAnonymousCaller) {
  HttpRequest r;
  r.method = "GET";
  r.path = "/api/v1/node";
  r.headers.emplace("user-agent", "evil\xff\xfe\xc3(");
  r.headers.emplace("host", "h\x80st");
  r.remote = "127.0.0.1:5555";
  ASSERT_EQ(gateway_->Handle(r).status, 401);
  HttpResponse log = Call("GET", "/api/v1/access-log", kUserToken);
  ASSERT_EQ(log.status, 200);
  Json lines;
  // nlohmann rejects invalid UTF-8, as the console's JSON.parse does.
  ASSERT_NO_THROW(lines = Json::parse(log.body));
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0]["user_agent"], "evil\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd(");
}

// A rule that accepts only tokens: app-key headers with control characters in them (once forwarded
// into a loop-back gRPC call, where gRPC asserts on them and the node aborted) are not credentials
// the rule accepts, and nothing else happens to them.
class DiceRuleTest : public GatewayTest {
 protected:
  void SetUp() override {
    auth::Rule token_only;
    token_only.pattern = "/api.DiceService/RollDie";
    token_only.authenticators = static_cast<uint32_t>(auth::Authenticator::kToken);
    Build({token_only});
  }

  HttpResponse RollWithAppKey(const char* token) {
    HttpRequest r;
    r.method = "POST";
    r.path = "/api/v1/dice/roll";
    if (token != nullptr) r.headers.emplace("authorization", std::string("Bearer ") + token);
    r.headers.emplace("app-key", "key\twith\ttabs\x01\r\n");
    r.headers.emplace("app-secret", std::string("sec\0ret\x7f", 8));
    r.body = "{}";
    r.remote = "127.0.0.1:5555";
    return gateway_->Handle(r);
  }
};

TEST_F(DiceRuleTest, ControlCharactersInUnacceptedHeadersCannotCrashTheRoll) {
  HttpResponse r = RollWithAppKey(kUserToken);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["face"], 4);
  EXPECT_EQ(rolls_, 1);
}

TEST_F(DiceRuleTest, TheRuleDecidesARollWithoutAnAcceptedCredential) {
  HttpResponse r = RollWithAppKey(nullptr);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(Body(r)["code"], "UNAUTHENTICATED");
  EXPECT_EQ(rolls_, 0);
}

TEST_F(GatewayTest, DiceRollRefusesGet) {
  EXPECT_EQ(Call("GET", "/api/v1/dice/roll", kUserToken).status, 405);
}

TEST_F(GatewayTest, KvSetGetListDelete) {
  EXPECT_EQ(Call("PUT", "/api/v1/kv/colour/sky", kUserToken, "blue").status, 200);
  HttpResponse get = Call("GET", "/api/v1/kv/colour/sky", kUserToken);
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(Body(get)["value"], "blue");
  HttpRequest list;
  list.method = "GET";
  list.path = "/api/v1/kv";
  list.query.emplace("prefix", "colour/");
  list.headers.emplace("authorization", std::string("Bearer ") + kUserToken);
  EXPECT_EQ(Body(gateway_->Handle(list))["keys"], Json::array({"colour/sky"}));
  EXPECT_EQ(Call("DELETE", "/api/v1/kv/colour/sky", kUserToken).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/kv/colour/sky", kUserToken).status, 404);
}

TEST_F(GatewayTest, KvBinaryValueComesBackAsBase64Only) {
  ASSERT_EQ(Call("PUT", "/api/v1/kv/bin", kUserToken, std::string("\xff\x00\x01", 3)).status, 200);
  Json j = Body(Call("GET", "/api/v1/kv/bin", kUserToken));
  EXPECT_FALSE(j.contains("value"));
  EXPECT_EQ(j["value_base64"], "/wAB");
}

// Sessions, cookies and CSRF: gateway_session_test.cc.
TEST_F(GatewayTest, LoginRefusesUnknownTokenAndMalformedBody) {
  auto login = [&](std::string body) {
    HttpRequest r;
    r.method = "POST";
    r.path = "/api/v1/login";
    r.headers.emplace("content-type", "application/json");
    r.body = std::move(body);
    return gateway_->Handle(r).status;
  };
  EXPECT_EQ(login(R"({"token":"nope"})"), 401);
  EXPECT_EQ(login("not json"), 400);
}

TEST_F(GatewayTest, HealthzIsPublicAndReadyzFollowsReadiness) {
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  ready_ = absl::UnavailableError("store: gone");
  HttpResponse r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Body(r)["reason"], "store: gone");
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(GatewayTest, ReadyzCarriesItsDetailsReadyOrNot) {
  HttpResponse ok = Call("GET", "/readyz");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(Body(ok)["credential_snapshot_age_seconds"], 0.5);
  age_ = 75;
  ready_ = absl::UnavailableError(
      "credentials: snapshot is 1m15s old, over auth.credential_max_age (1m)");
  HttpResponse stale = Call("GET", "/readyz");
  EXPECT_EQ(stale.status, 503);
  EXPECT_EQ(Body(stale)["status"], "not ready");
  EXPECT_EQ(Body(stale)["credential_snapshot_age_seconds"], 75);
}

TEST_F(GatewayTest, MetricsAreOpenMetricsTextAndCountHttpRequests) {
  Call("GET", "/api/v1/node");
  HttpResponse r = Call("GET", "/metrics", kUserToken);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_NE(r.body.find("nodegate_http_requests_total{class=\"4xx\"} 1"), std::string::npos)
      << r.body;
}

TEST_F(GatewayTest, AccessLogRouteReturnsRecentLinesAsJson) {
  Call("GET", "/api/v1/node");              // refused: logged with the reason
  Call("GET", "/api/v1/node", kUserToken);  // allowed
  HttpResponse r = Call("GET", "/api/v1/access-log", kUserToken);
  ASSERT_EQ(r.status, 200);
  Json lines = Body(r);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0]["status"], "UNAUTHENTICATED");
  EXPECT_EQ(lines[0]["method"], "GET /api/v1/node");
  EXPECT_EQ(lines[1]["principal"], "user:bob");
}

TEST_F(GatewayTest, PolicyListsRulesAndHttpRoutes) {
  Json j = Body(Call("GET", "/api/v1/policy", kUserToken));
  bool dice = false, nodes_admin = false;
  for (const Json& r : j["rules"]) dice |= r["method"] == "/api.DiceService/RollDie";
  for (const Json& r : j["http_routes"]) {
    nodes_admin |= r["route"] == "GET /api/v1/nodes" && r["roles"] == Json::array({"admin"});
  }
  EXPECT_TRUE(dice);
  EXPECT_TRUE(nodes_admin);
}

TEST_F(GatewayTest, ServesEmbeddedAssetsWithoutCredentials) {
  HttpResponse index = Call("GET", "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("Roll the die"), std::string::npos);
  EXPECT_EQ(Call("GET", "/console.js").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Call("GET", "/nope.html").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/unknown", kUserToken).status, 404);
}

TEST(HttpStatusForTest, MapsAuthCodes) {
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::UNAVAILABLE), 503);
}

TEST(ConsoleAssetsTest, EveryAssetIsEmbedded) {
  for (const char* p : {"/index.html", "/console.js", "/console.css"}) {
    const ConsoleAsset* a = FindConsoleAsset(p);
    ASSERT_NE(a, nullptr) << p;
    EXPECT_FALSE(a->body.empty());
  }
  EXPECT_EQ(FindConsoleAsset("/"), FindConsoleAsset("/index.html"));
}

}  // namespace
}  // namespace nodegate::http
