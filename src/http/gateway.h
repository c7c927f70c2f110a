// The HTTP/JSON side of a node: the console's API under /api/v1/…, /metrics, /healthz, /readyz and
// the console's static assets. Transport-free (requests in, responses out) so that it is tested
// without sockets; ConsoleServer puts it behind HTTPS.
//
// Every data route is decided by the node's own auth::Authorizer, as if it were a gRPC call to the
// full method in RouteMethod(): the HTTP principal comes from the client certificate (mtls) and
// from `authorization: Bearer <token>` (or the console's login cookie, which names a server-side
// session whose token is presented on the caller's behalf) and `app-key`/`app-secret` headers.
// UNAUTHENTICATED → 401, PERMISSION_DENIED → 403. Routes with no gRPC counterpart use
// pseudo-methods of the service "nodegate.http.Console" (docs/console.md); the default rule (any
// authenticated caller) governs them unless [[auth.rule]] says otherwise.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/authorizer.h"
#include "http/http_message.h"
#include "http/session_store.h"
#include "observe/access_log.h"
#include "observe/metrics.h"
#include "observe/recent_lines.h"
#include "store/kv_store.h"
#include "store/node_store.h"
#include "tls/credential_set.h"
#include "tls/peer_identity.h"

namespace nodegate::http {

// Pseudo-methods for routes that have no gRPC method.
inline constexpr char kConsolePolicyMethod[] = "/nodegate.http.Console/Policy";
inline constexpr char kConsoleMetricsMethod[] = "/nodegate.http.Console/Metrics";
inline constexpr char kConsoleAccessLogMethod[] = "/nodegate.http.Console/AccessLog";
inline constexpr char kConsoleService[] = "nodegate.http.Console";
// The cookie set by POST /api/v1/login (HttpOnly, Secure, SameSite=Strict, Path=/): a session id
// (SessionStore), never the token.
inline constexpr char kSessionCookie[] = "nodegate_session";
// Logout and non-GET requests authenticated by the cookie must carry this header (a browser sends a
// custom header cross-site only after a CORS preflight, which this server never grants).
inline constexpr char kCsrfHeader[] = "x-nodegate-console";

struct GatewayOptions {
  std::string node_id;
  // The certificate the node serves right now (reloaded).
  std::function<std::shared_ptr<const tls::CredentialSet>()> credentials;
  // Shown on the console: name → address ("grpc" → "127.0.0.1:8443", …).
  std::function<std::vector<std::pair<std::string, std::string>>()> listeners;
  std::shared_ptr<auth::Authorizer> authorizer;    // required
  std::vector<std::string> services;               // for the policy table (full service names)
  std::shared_ptr<store::NodeStore> nodes;         // null: GET /api/v1/nodes answers 501
  std::shared_ptr<store::KvStore> kv;              // null: /api/v1/kv answers 501
  std::shared_ptr<observe::Metrics> metrics;       // null: /metrics answers 501
  std::shared_ptr<observe::RecentLines> recent;    // null: the access-log route returns []
  std::shared_ptr<observe::AccessLog> access_log;  // null: requests are not logged
  // The RollDie service rule (services::RollDieValue on a node), called in-process once the
  // gateway has authorized the request as /api.DiceService/RollDie. Not a loop-back gRPC call: the
  // HTTP caller's headers never become gRPC metadata, so nothing the rule did not accept can reach
  // gRPC's own header checks. Null: POST /api/v1/dice/roll answers 501.
  std::function<absl::StatusOr<int>()> roll_die;
  // OK when the node can take calls (gRPC server started, store reachable). Null: always ready.
  std::function<absl::Status()> ready;
  // Numbers /readyz adds to its body, ready or not (the credential snapshot's age). Null: none.
  std::function<std::vector<std::pair<std::string, double>>()> ready_details;
  // The console's login sessions. Null: a store with SessionOptions' defaults.
  std::shared_ptr<SessionStore> sessions;
};

class Gateway {
 public:
  static absl::StatusOr<std::unique_ptr<Gateway>> New(GatewayOptions options);

  HttpResponse Handle(const HttpRequest& request);

  // The gRPC full method (or pseudo-method) whose rule governs `method` + `path`; empty for the
  // console's static assets, the login/logout routes and unknown routes.
  static std::string RouteMethod(std::string_view method, std::string_view path);

  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

 private:
  explicit Gateway(GatewayOptions options) : options_(std::move(options)) {}

  struct Call;  // one request being served
  HttpResponse Route(Call& call);
  HttpResponse Node(Call& call);
  HttpResponse Policy(Call& call);
  HttpResponse Nodes(Call& call);
  HttpResponse Kv(Call& call, std::string_view key);
  HttpResponse Dice(Call& call);
  HttpResponse Metrics(Call& call);
  HttpResponse AccessLog(Call& call);
  HttpResponse Login(Call& call);
  HttpResponse Logout(Call& call);
  // Login/logout/cookie-authenticated state changes: refused when the request is not same-origin.
  static std::optional<HttpResponse> RefuseCrossSite(Call& call);
  HttpResponse Ready(Call& call);

  void Record(const Call& call, const HttpResponse& response) const;
  void RegisterMetrics();

  const GatewayOptions options_;
  std::atomic<uint64_t> requests_{0};
  // Responses by class (index 1..5 = 1xx..5xx) for nodegate_http_requests_total; shared with the
  // metrics callback, which may outlive the gateway.
  std::shared_ptr<std::array<std::atomic<uint64_t>, 6>> counts_;
};

// HTTP status for a gRPC status code (UNAUTHENTICATED → 401, PERMISSION_DENIED → 403, …).
int HttpStatusFor(grpc::StatusCode code);

}  // namespace nodegate::http
