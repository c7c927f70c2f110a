#include "http/gateway.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "crypto/encoding.h"
#include "http/console_assets.h"
#include "store/paging.h"

namespace nodegate::http {
namespace {

using Json = nlohmann::json;

constexpr char kHealthMethod[] = "/grpc.health.v1.Health/Check";
constexpr char kWhoAmIMethod[] = "/nodegate.v1.Identity/WhoAmI";
constexpr char kRollDieMethod[] = "/api.DiceService/RollDie";
constexpr char kListNodesMethod[] = "/nodegate.v1.NodeRegistry/ListNodes";
constexpr char kKvKeysMethod[] = "/nodegate.v1.KeyValue/Keys";
constexpr char kKvGetMethod[] = "/nodegate.v1.KeyValue/Get";
constexpr char kKvSetMethod[] = "/nodegate.v1.KeyValue/Set";
constexpr char kKvDeleteMethod[] = "/nodegate.v1.KeyValue/Delete";
constexpr char kKvPrefix[] = "/api/v1/kv/";

// Keys and values are arbitrary bytes: never let invalid UTF-8 throw out of a handler.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string TimeText(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "never";
  if (t == absl::InfinitePast()) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += n;
  }
  return true;
}

HttpResponse JsonResponse(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  r.body = Dump(body);
  return r;
}

HttpResponse Error(int status, grpc::StatusCode code, absl::string_view message) {
  return JsonResponse(status, Json{{"error", std::string(message)},
                                   {"code", observe::StatusCodeName(static_cast<int>(code))}});
}

const std::string* Header(const HttpRequest& r, const char* name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? nullptr : &it->second;
}

// The value of cookie `name` in a Cookie header ("a=1; b=2").
std::string CookieValue(const HttpRequest& r, std::string_view name) {
  auto [begin, end] = r.headers.equal_range("cookie");
  for (auto it = begin; it != end; ++it) {
    for (absl::string_view part : absl::StrSplit(it->second, ';')) {
      part = absl::StripAsciiWhitespace(part);
      if (part.size() > name.size() && part[name.size()] == '=' &&
          part.substr(0, name.size()) == absl::string_view(name.data(), name.size())) {
        return std::string(part.substr(name.size() + 1));
      }
    }
  }
  return {};
}

// The request's media type is application/json (parameters such as charset allowed). A browser
// sends a cross-site POST without a CORS preflight only for text/plain, form-urlencoded and
// multipart bodies, so requiring JSON forces any cross-site script through a preflight we refuse.
bool IsJsonBody(const HttpRequest& r) {
  const std::string* type = Header(r, "content-type");
  if (type == nullptr) return false;
  absl::string_view media = absl::string_view(*type).substr(0, type->find(';'));
  return absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(media), "application/json");
}

// "host[:port]" lower-cased, without the default port of https.
std::string NormalizedAuthority(absl::string_view authority) {
  std::string a = absl::AsciiStrToLower(absl::StripAsciiWhitespace(authority));
  if (absl::EndsWith(a, ":443")) a.resize(a.size() - 4);
  return a;
}

std::string QueryValue(const HttpRequest& r, const char* name) {
  auto it = r.query.find(name);
  return it == r.query.end() ? std::string() : it->second;
}

Json PrincipalJson(const auth::Principal& p) {
  return Json{{"kind", std::string(auth::KindName(p.kind))},
              {"id", p.id},
              {"roles", p.roles},
              {"authenticators", auth::AuthenticatorList(p.authenticators)}};
}

Json RuleJson(std::string_view method, const auth::Rule& rule) {
  return Json{
      {"method", std::string(method)},
      {"pattern", rule.pattern},
      {"public", rule.is_public},
      {"authenticators", rule.is_public             ? std::vector<std::string>{}
                         : rule.authenticators == 0 ? std::vector<std::string>{"any"}
                                                    : auth::AuthenticatorList(rule.authenticators)},
      {"roles", rule.roles},
      {"source", rule.source}};
}

// The gateway's routes, for RouteMethod() and the console's policy table.
struct RouteRow {
  const char* route;
  const char* method;
};
constexpr RouteRow kRoutes[] = {
    {"GET /healthz, GET /readyz", kHealthMethod},
    {"GET /metrics", kConsoleMetricsMethod},
    {"GET /api/v1/node", kWhoAmIMethod},
    {"GET /api/v1/policy", kConsolePolicyMethod},
    {"GET /api/v1/access-log", kConsoleAccessLogMethod},
    {"GET /api/v1/nodes", kListNodesMethod},
    {"POST /api/v1/dice/roll", kRollDieMethod},
    {"GET /api/v1/kv", kKvKeysMethod},
    {"GET /api/v1/kv/{key}", kKvGetMethod},
    {"PUT /api/v1/kv/{key}", kKvSetMethod},
    {"DELETE /api/v1/kv/{key}", kKvDeleteMethod},
};

}  // namespace

int HttpStatusFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

std::string Gateway::RouteMethod(std::string_view method, std::string_view path) {
  if (path == "/healthz" || path == "/readyz") return kHealthMethod;
  if (path == "/metrics") return kConsoleMetricsMethod;
  if (path == "/api/v1/node") return kWhoAmIMethod;
  if (path == "/api/v1/policy") return kConsolePolicyMethod;
  if (path == "/api/v1/access-log") return kConsoleAccessLogMethod;
  if (path == "/api/v1/nodes") return kListNodesMethod;
  if (path == "/api/v1/dice/roll") return kRollDieMethod;
  if (path == "/api/v1/kv" || path == "/api/v1/kv/") return kKvKeysMethod;
  if (path.size() > sizeof(kKvPrefix) - 1 && path.substr(0, sizeof(kKvPrefix) - 1) == kKvPrefix) {
    if (method == "PUT") return kKvSetMethod;
    if (method == "DELETE") return kKvDeleteMethod;
    return kKvGetMethod;
  }
  return {};
}

// One request on its way through: the metadata the authorizer sees (views into `storage`), the
// decision, and what the access log will say.
struct Gateway::Call {
  const HttpRequest& request;
  std::vector<std::string> storage;  // owns what `metadata` points at
  auth::Metadata metadata;
  bool cookie_auth = false;    // the credential is the session's token, presented for the caller
  bool stale_session = false;  // a session cookie that names no live session
  bool log = false;            // write an access-log line even without a gRPC method (logout)
  std::string grpc_method;
  auth::Decision decision;
  grpc::StatusCode code = grpc::StatusCode::OK;  // for the access log
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  Call(const HttpRequest& r, SessionStore& sessions) : request(r) {
    storage.reserve(8);  // views into it must not move
    auto add = [&](const char* key, std::string value) {
      storage.emplace_back(key);
      const std::string& k = storage.back();
      storage.push_back(std::move(value));
      const std::string& v = storage.back();
      metadata.emplace(grpc::string_ref(k.data(), k.size()), grpc::string_ref(v.data(), v.size()));
    };
    if (const std::string* a = Header(r, "authorization")) {
      add("authorization", *a);
    } else if (std::string cookie = CookieValue(r, kSessionCookie); !cookie.empty()) {
      // The session's token goes through the same decision as a Bearer header, so a revoked or
      // expired token stops the session at its next request.
      if (std::optional<std::string> token = sessions.Resolve(cookie)) {
        add("authorization", absl::StrCat("Bearer ", *token));
        cookie_auth = true;
      } else {
        stale_session = true;
      }
    }
    if (const std::string* t = Header(r, "access-token")) add("access-token", *t);
    const std::string* key = Header(r, "app-key");
    const std::string* secret = Header(r, "app-secret");
    if (key != nullptr && secret != nullptr) {
      add("app-key", *key);
      add("app-secret", *secret);
    }
  }
};

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::New(GatewayOptions options) {
  if (options.authorizer == nullptr) {
    return absl::InvalidArgumentError("http gateway: an authorizer is required");
  }
  if (!options.credentials) {
    return absl::InvalidArgumentError("http gateway: the node's credentials are required");
  }
  if (options.sessions == nullptr) {
    absl::StatusOr<std::unique_ptr<SessionStore>> sessions = SessionStore::New(SessionOptions{});
    if (!sessions.ok()) return sessions.status();
    options.sessions = *std::move(sessions);
  }
  std::unique_ptr<Gateway> g(new Gateway(std::move(options)));
  g->RegisterMetrics();
  return g;
}

void Gateway::RegisterMetrics() {
  if (options_.metrics == nullptr) return;
  // The counters live as long as the Metrics object may render them.
  auto counts = std::make_shared<std::array<std::atomic<uint64_t>, 6>>();
  counts_ = counts;
  options_.metrics->AddCallback(
      "nodegate_http_requests_total", "HTTPS console/gateway requests by status class.", "counter",
      [counts] {
        std::vector<observe::Metrics::Sample> out;
        for (int c = 1; c <= 5; ++c) {
          out.push_back({absl::StrCat("class=\"", c, "xx\""),
                         static_cast<double>((*counts)[c].load(std::memory_order_relaxed))});
        }
        return out;
      });
}

HttpResponse Gateway::Handle(const HttpRequest& request) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  Call call(request, *options_.sessions);
  HttpResponse response = Route(call);
  if (counts_ != nullptr) {
    int cls = response.status / 100;
    if (cls >= 1 && cls <= 5) (*counts_)[cls].fetch_add(1, std::memory_order_relaxed);
  }
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
  if (response.content_type.rfind("text/html", 0) == 0) {
    response.headers.emplace_back(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'");
  } else {
    response.headers.emplace_back("Cache-Control", "no-store");
  }
  if (response.status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (call.log || (!call.grpc_method.empty() && call.grpc_method != kHealthMethod)) {
    Record(call, response);
  }
  return response;
}

HttpResponse Gateway::Route(Call& call) {
  const HttpRequest& r = call.request;
  const bool read = r.method == "GET" || r.method == "HEAD";
  if (r.path == "/api/v1/login" || r.path == "/api/v1/logout") {
    call.log = true;
    if (r.method != "POST") {
      call.code = grpc::StatusCode::UNIMPLEMENTED;
      return Error(405, call.code, "use POST");
    }
    if (std::optional<HttpResponse> refused = RefuseCrossSite(call)) return *std::move(refused);
    if (!IsJsonBody(r)) {
      call.code = grpc::StatusCode::INVALID_ARGUMENT;
      return Error(415, call.code, "Content-Type must be application/json");
    }
    return r.path == "/api/v1/login" ? Login(call) : Logout(call);
  }
  call.grpc_method = RouteMethod(r.method, r.path);
  if (call.grpc_method.empty()) {
    if (read && r.path.rfind("/api/", 0) != 0) {
      if (const ConsoleAsset* a = FindConsoleAsset(r.path)) {
        HttpResponse out;
        out.content_type = std::string(a->content_type);
        out.body = std::string(a->body);
        return out;
      }
    }
    return Error(404, grpc::StatusCode::NOT_FOUND, "no such route");
  }
  const std::string& gm = call.grpc_method;
  const bool kv_item = gm == kKvGetMethod || gm == kKvSetMethod || gm == kKvDeleteMethod;
  const bool allowed = gm == kRollDieMethod    ? r.method == "POST"
                       : gm == kKvSetMethod    ? r.method == "PUT"
                       : gm == kKvDeleteMethod ? r.method == "DELETE"
                                               : read;
  if (!allowed) {
    call.code = grpc::StatusCode::UNIMPLEMENTED;
    return Error(405, call.code, absl::StrCat(r.method, " is not allowed on ", r.path));
  }

  call.decision =
      options_.authorizer->Authorize(call.grpc_method, call.metadata, r.peer, absl::Now());
  if (!call.decision.status.ok()) {
    call.code = call.decision.status.error_code();
    return Error(HttpStatusFor(call.code), call.code, call.decision.status.error_message());
  }
  // A cookie is sent by the browser on its own; a state change needs proof that our page asked.
  if (call.cookie_auth && !read && Header(r, kCsrfHeader) == nullptr) {
    call.code = grpc::StatusCode::PERMISSION_DENIED;
    return Error(
        403, call.code,
        absl::StrCat("cookie-authenticated ", r.method, " needs the ", kCsrfHeader, " header"));
  }
  if (call.cookie_auth && !read) {
    if (std::optional<HttpResponse> refused = RefuseCrossSite(call)) return *std::move(refused);
  }

  const std::string& m = call.grpc_method;
  if (m == kHealthMethod) return Ready(call);
  if (m == kConsoleMetricsMethod) return Metrics(call);
  if (m == kWhoAmIMethod) return Node(call);
  if (m == kConsolePolicyMethod) return Policy(call);
  if (m == kConsoleAccessLogMethod) return AccessLog(call);
  if (m == kListNodesMethod) return Nodes(call);
  if (m == kRollDieMethod) return Dice(call);
  std::string_view key;
  if (kv_item) key = std::string_view(r.path).substr(sizeof(kKvPrefix) - 1);
  return Kv(call, key);
}

HttpResponse Gateway::Ready(Call& call) {
  if (call.request.path == "/healthz") return JsonResponse(200, Json{{"status", "ok"}});
  absl::Status s = options_.ready ? options_.ready() : absl::OkStatus();
  Json body = s.ok() ? Json{{"status", "ready"}}
                     : Json{{"status", "not ready"}, {"reason", std::string(s.message())}};
  if (options_.ready_details) {
    for (const auto& [name, value] : options_.ready_details()) body[name] = value;
  }
  if (!s.ok()) {
    call.code = grpc::StatusCode::UNAVAILABLE;
    return JsonResponse(503, body);
  }
  return JsonResponse(200, body);
}

HttpResponse Gateway::Metrics(Call& call) {
  if (options_.metrics == nullptr) {
    call.code = grpc::StatusCode::UNIMPLEMENTED;
    return Error(501, call.code, "metrics are not enabled");
  }
  HttpResponse out;
  out.content_type = "text/plain; version=0.0.4; charset=utf-8";
  out.body = options_.metrics->RenderPrometheus();
  return out;
}

HttpResponse Gateway::Node(Call& call) {
  std::shared_ptr<const tls::CredentialSet> set = options_.credentials();
  const pki::CertificateInfo& leaf = set->leaf;
  const absl::Duration left = leaf.not_after - absl::Now();
  Json listeners = Json::array();
  std::vector<std::pair<std::string, std::string>> bound;
  if (options_.listeners) bound = options_.listeners();
  for (const auto& [name, address] : bound) {
    listeners.push_back(Json{{"name", name}, {"address", address}});
  }
  Json body{
      {"node_id", options_.node_id},
      {"principal", PrincipalJson(call.decision.principal)},
      {"certificate",
       Json{{"subject", leaf.subject},
            {"issuer", leaf.issuer},
            {"sans", leaf.sans},
            {"serial", leaf.serial_hex},
            {"key_type", leaf.key_type},
            {"not_before", TimeText(leaf.not_before)},
            {"not_after", TimeText(leaf.not_after)},
            {"seconds_left", static_cast<int64_t>(absl::ToInt64Seconds(left))},
            {"days_left", static_cast<int64_t>(std::floor(absl::ToDoubleHours(left) / 24))},
            {"fingerprint_sha256", leaf.sha256_fingerprint}}},
      {"listeners", listeners},
  };
  return JsonResponse(200, body);
}

HttpResponse Gateway::Policy(Call& call) {
  const std::shared_ptr<const auth::Policy> in_force = options_.authorizer->policy();
  const auth::Policy& policy = *in_force;
  Json rules = Json::array();
  for (const auth::Policy::Row& row : policy.Table(options_.services)) {
    rules.push_back(RuleJson(row.method, *row.rule));
  }
  Json routes = Json::array();
  for (const RouteRow& row : kRoutes) {
    Json j = RuleJson(row.method, policy.Resolve(row.method));
    j["route"] = row.route;
    routes.push_back(std::move(j));
  }
  return JsonResponse(200, Json{{"rules", rules}, {"http_routes", routes}});
}

HttpResponse Gateway::AccessLog(Call& call) {
  std::vector<std::string> lines;
  if (options_.recent) lines = options_.recent->Snapshot();
  HttpResponse out;
  // Each line is already one JSON object (observe::FormatAccessRecord).
  out.body = absl::StrCat("[", absl::StrJoin(lines, ",\n"), "]");
  return out;
}

HttpResponse Gateway::Nodes(Call& call) {
  if (options_.nodes == nullptr) {
    call.code = grpc::StatusCode::UNIMPLEMENTED;
    return Error(501, call.code, "this node has no registry");
  }
  absl::StatusOr<store::NodePage> page =
      options_.nodes->List(store::kMaxPageSize, QueryValue(call.request, "page_token"));
  if (!page.ok()) {
    call.code = static_cast<grpc::StatusCode>(page.status().code());
    return Error(HttpStatusFor(call.code), call.code, page.status().message());
  }
  Json nodes = Json::array();
  for (const store::NodeRecord& n : page->records) {
    nodes.push_back(Json{{"id", n.id},
                         {"algorithm", n.algorithm},
                         {"roles", n.roles},
                         {"enabled", n.enabled},
                         {"cert_serial", n.cert_serial},
                         {"created_at", TimeText(n.created_at)},
                         {"updated_at", TimeText(n.updated_at)}});
  }
  return JsonResponse(200, Json{{"nodes", nodes}, {"next_page_token", page->next_page_token}});
}

HttpResponse Gateway::Dice(Call& call) {
  if (!options_.roll_die) {
    call.code = grpc::StatusCode::UNIMPLEMENTED;
    return Error(501, call.code, "this node serves no dice");
  }
  absl::StatusOr<int> face = options_.roll_die();
  if (!face.ok()) {
    call.code = static_cast<grpc::StatusCode>(face.status().code());
    return Error(HttpStatusFor(call.code), call.code,
                 absl::StrCat("RollDie: ", face.status().message()));
  }
  return JsonResponse(200, Json{{"face", *face}, {"via", std::string(kRollDieMethod)}});
}

HttpResponse Gateway::Kv(Call& call, std::string_view key) {
  if (options_.kv == nullptr) {
    call.code = grpc::StatusCode::UNIMPLEMENTED;
    return Error(501, call.code, "this node has no key-value store");
  }
  auto fail = [&](const absl::Status& s) {
    call.code = static_cast<grpc::StatusCode>(s.code());
    return Error(HttpStatusFor(call.code), call.code, s.message());
  };
  const std::string& m = call.grpc_method;
  if (m == kKvKeysMethod) {
    int size = store::kDefaultPageSize;
    std::string size_text = QueryValue(call.request, "page_size");
    if (!size_text.empty() && !absl::SimpleAtoi(size_text, &size)) {
      return fail(absl::InvalidArgumentError("page_size: not a number"));
    }
    absl::StatusOr<store::KvKeyPage> page = options_.kv->Keys(
        QueryValue(call.request, "prefix"), size, QueryValue(call.request, "page_token"));
    if (!page.ok()) return fail(page.status());
    return JsonResponse(200,
                        Json{{"keys", page->keys}, {"next_page_token", page->next_page_token}});
  }
  if (m == kKvGetMethod) {
    absl::StatusOr<store::KvEntry> e = options_.kv->Get(key);
    if (!e.ok()) return fail(e.status());
    Json body{{"key", std::string(key)},
              {"value_base64", crypto::Base64Encode(e->value)},
              {"content_type", e->content_type},
              {"updated_at", TimeText(e->updated_at)}};
    if (ValidUtf8(e->value)) body["value"] = e->value;
    return JsonResponse(200, body);
  }
  if (m == kKvSetMethod) {
    const std::string* type = Header(call.request, "content-type");
    absl::Status s = options_.kv->Set(key, call.request.body, type ? *type : std::string());
    if (!s.ok()) return fail(s);
    return JsonResponse(200, Json{{"key", std::string(key)}, {"stored", true}});
  }
  absl::Status s = options_.kv->Delete(key);
  if (!s.ok()) return fail(s);
  return JsonResponse(200, Json{{"key", std::string(key)}, {"deleted", true}});
}

std::optional<HttpResponse> Gateway::RefuseCrossSite(Call& call) {
  const HttpRequest& r = call.request;
  auto refuse = [&](absl::string_view why) {
    call.code = grpc::StatusCode::PERMISSION_DENIED;
    return std::optional<HttpResponse>(Error(403, call.code, why));
  };
  // Fetch metadata, where the browser sends it: only our own pages (or the user typing the URL).
  // "same-site" is refused too: SameSite=Strict still sends the cookie from a sibling subdomain.
  if (const std::string* site = Header(r, "sec-fetch-site")) {
    if (*site != "same-origin" && *site != "none") return refuse("cross-site request refused");
  }
  // Browsers send Origin on every POST/PUT/DELETE, same-origin or not; tools without it (curl)
  // are no CSRF vector. Absent Origin is therefore allowed; a present one must be this server.
  const std::string* origin = Header(r, "origin");
  if (origin == nullptr) return std::nullopt;
  const std::string* host = Header(r, "host");
  if (host == nullptr || host->empty()) return refuse("cross-site request refused");
  constexpr absl::string_view kScheme = "https://";
  if (!absl::StartsWithIgnoreCase(*origin, kScheme) ||
      NormalizedAuthority(absl::string_view(*origin).substr(kScheme.size())) !=
          NormalizedAuthority(*host)) {
    return refuse("cross-site request refused");
  }
  return std::nullopt;
}

HttpResponse Gateway::Login(Call& call) {
  const HttpRequest& r = call.request;
  call.grpc_method = kWhoAmIMethod;
  std::string token;
  Json body = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("token") && body["token"].is_string()) {
    token = body["token"].get<std::string>();
  }
  // A token is base64url: anything else cannot be one.
  if (token.empty() || token.size() > 512 ||
      token.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=") !=
          std::string::npos) {
    call.code = grpc::StatusCode::INVALID_ARGUMENT;
    return Error(400, call.code, "body must be {\"token\": \"...\"}");
  }
  // The token alone must identify the caller (the client certificate does not count here): it is
  // what the session will present.
  std::string header = absl::StrCat("Bearer ", token);
  auth::Metadata md;
  md.emplace("authorization", grpc::string_ref(header.data(), header.size()));
  call.decision =
      options_.authorizer->Authorize(kWhoAmIMethod, md, tls::PeerIdentity{}, absl::Now());
  if (!call.decision.status.ok()) {
    call.code = call.decision.status.error_code();
    return Error(HttpStatusFor(call.code), call.code, call.decision.status.error_message());
  }
  std::optional<absl::Time> token_expiry = options_.authorizer->TokenExpiry(token);
  if (!token_expiry.has_value()) {  // revoked between the two reads
    call.code = grpc::StatusCode::UNAUTHENTICATED;
    return Error(401, call.code, "token: unknown or revoked");
  }
  // A new login replaces the browser's previous session rather than leaving it alive.
  if (std::string old = CookieValue(r, kSessionCookie); !old.empty()) {
    options_.sessions->Delete(old);
  }
  absl::StatusOr<SessionStore::Created> session =
      options_.sessions->Create(std::move(token), *token_expiry);
  if (!session.ok()) {
    call.code = static_cast<grpc::StatusCode>(session.status().code());
    return Error(HttpStatusFor(call.code), call.code, session.status().message());
  }
  const int64_t max_age =
      std::max<int64_t>(0, absl::ToInt64Seconds(session->expires_at - options_.sessions->Now()));
  HttpResponse out = JsonResponse(200, Json{{"principal", PrincipalJson(call.decision.principal)},
                                            {"session_expires_at", TimeText(session->expires_at)}});
  out.headers.emplace_back("Set-Cookie", absl::StrCat(kSessionCookie, "=", session->cookie,
                                                      "; Path=/; Max-Age=", max_age,
                                                      "; HttpOnly; Secure; SameSite=Strict"));
  return out;
}

HttpResponse Gateway::Logout(Call& call) {
  const HttpRequest& r = call.request;
  // Not authenticated itself (a stale cookie must still be clearable), but only our page may ask:
  // a cross-site logout is a nuisance attack.
  if (Header(r, kCsrfHeader) == nullptr) {
    call.code = grpc::StatusCode::PERMISSION_DENIED;
    return Error(403, call.code, absl::StrCat("logout needs the ", kCsrfHeader, " header"));
  }
  bool ended = false;
  if (std::string cookie = CookieValue(r, kSessionCookie); !cookie.empty()) {
    ended = options_.sessions->Delete(cookie);
  }
  HttpResponse out = JsonResponse(200, Json{{"logged_out", true}, {"session_ended", ended}});
  out.headers.emplace_back("Set-Cookie", absl::StrCat(kSessionCookie,
                                                      "=; Path=/; Max-Age=0; HttpOnly; Secure; "
                                                      "SameSite=Strict"));
  return out;
}

void Gateway::Record(const Call& call, const HttpResponse& response) const {
  if (options_.access_log == nullptr || !options_.access_log->enabled()) return;
  observe::AccessRecord r;
  r.time = absl::Now();
  if (const std::string* host = Header(call.request, "host")) r.authority = *host;
  r.peer = absl::StrCat("https:", call.request.remote);
  // Not the gRPC method: this line is the HTTP request, the only line it gets (a dice roll runs
  // in-process, not as a second, gRPC call).
  r.method = absl::StrCat(call.request.method, " ", call.request.path);
  r.code = static_cast<int>(call.code);
  r.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - call.start)
          .count();
  if (const std::string* ua = Header(call.request, "user-agent")) r.user_agent = *ua;
  r.client_cn = call.request.peer.common_name;
  r.principal = call.decision.principal.ToString();
  const std::string method =
      call.grpc_method.empty() ? std::string() : absl::StrCat(" (", call.grpc_method, ")");
  if (!call.decision.status.ok()) {
    r.reason = absl::StrCat(std::string(auth::RejectionName(call.decision.rejection)),
                            call.decision.detail.empty() ? "" : ": ", call.decision.detail, method);
  } else if (response.status >= 400) {
    r.reason = absl::StrCat("http ", response.status, method);
  }
  // The page's own refresh, successful: in the log file, not in the panel it refreshes. Refusals
  // of these routes and every other request still go to the panel.
  r.console_poll = call.decision.status.ok() && response.status == 200 &&
                   call.request.method == "GET" && Header(call.request, kCsrfHeader) != nullptr &&
                   (call.request.path == "/metrics" || call.request.path == "/api/v1/access-log");
  // Says why a browser was logged out (the detail stays here, the wire says 401).
  if (call.stale_session && response.status == 401) {
    absl::StrAppend(&r.reason, "; session cookie unknown or expired");
  }
  options_.access_log->Write(r);
}

}  // namespace nodegate::http
