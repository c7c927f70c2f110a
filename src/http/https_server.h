// The node's bounded HTTPS listener (Boost.Asio + Beast), shared by the web console and XML-RPC.
//
// One I/O thread does accept, TLS handshake, reading and writing, all asynchronously: a slow or
// idle peer costs a socket and a bounded buffer, never a thread. Every phase has a deadline and
// every size a limit (HttpsLimits); each trip is counted (stats(), and /metrics when a Metrics is
// given) and logged at most once a second per kind. Handlers run on a small fixed pool of worker
// threads behind a bounded queue (full → 503), because the gateway and XML-RPC touch SQLite and
// may block; the response is handed back to the I/O thread to be written.
//
// TLS comes from the node's one validated credential source (tls::SslContextFollower): a reload
// applies to the next handshake. The listener is bound without SO_REUSEPORT, so a second process
// cannot silently share the port.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "http/http_message.h"
#include "http/https_limits.h"
#include "observe/handshake_log.h"
#include "observe/metrics.h"
#include "tls/credential_set.h"
#include "tls/server_credentials.h"

namespace nodegate::http {

struct HttpsServerOptions {
  std::string listen;  // host:port; port 0 picks a free one
  // Names the listener in errors ("http" → "http.listen: …"), logs and metric names.
  std::string name = "http";
  tls::ClientAuth client_auth = tls::ClientAuth::kRequest;
  std::function<std::shared_ptr<const tls::CredentialSet>()> credentials;  // required
  HttpsLimits limits;
  std::shared_ptr<observe::Metrics> metrics;  // optional
  // Refused handshakes (with peer, certificate and reason) are recorded here; optional.
  std::shared_ptr<observe::HandshakeLog> handshake_log;
};

// Limit trips and connection counts since start.
struct HttpsServerStats {
  uint64_t accepted = 0;
  uint64_t active = 0;  // open connections now
  uint64_t over_max_connections = 0;
  uint64_t accept_errors = 0;
  uint64_t handshake_failed = 0;
  uint64_t handshake_timeout = 0;
  uint64_t header_timeout = 0;
  uint64_t request_timeout = 0;
  uint64_t write_timeout = 0;
  uint64_t header_too_large = 0;  // 431
  uint64_t body_too_large = 0;    // 413
  uint64_t bad_request = 0;       // 400
  uint64_t queue_full = 0;        // 503
  uint64_t requests = 0;          // handed to the handler
};

class HttpsServer {
 public:
  // Runs on a worker thread. Must not throw (an exception is answered 500 and logged).
  using Handler = std::function<HttpResponse(HttpRequest)>;

  // Validates the options, builds the TLS context, binds (errors name "<name>.listen") and starts
  // the I/O and worker threads.
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Start(HttpsServerOptions options,
                                                            Handler handler);
  ~HttpsServer();

  // "host:port" actually bound.
  const std::string& address() const;
  HttpsServerStats stats() const;
  // Closes the listener and every connection, waits for running handlers. Idempotent.
  void Stop();

  class Impl;

 private:
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" / "[v6]:port"; errors name `field`.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address,
                                                          std::string_view field);

// Splits a request target into its percent-decoded path and query parameters (%XX only; '+' and a
// malformed escape are kept as written, as cpp-httplib did).
void ParseTarget(std::string_view target, std::string* path,
                 std::multimap<std::string, std::string>* query);

}  // namespace nodegate::http
