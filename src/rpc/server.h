// The node's gRPC server core, on gRPC's completion-queue async API. Every call, whatever its
// method, arrives through one generic service; the thread that takes it off its completion queue
// runs the auth::Authorizer on the call's metadata and peer certificate *before* any handler
// (design §7: no AuthMetadataProcessor, no thread hop), then runs the handler (inline, or on a
// worker for handlers that block), sends the answer, and records the call in the access log and
// the metrics. One completion queue and one thread per CPU the process may run on.
//
// That is engine kGrpc. Engine kH2 (h2_engine.h) takes the calls off the wire itself — HTTP/2 from
// nghttp2, TLS from OpenSSL through Asio, gRPC's framing written here — and runs them through
// the same authorization, handlers, bounds and observers (server_core.h).
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/authorizer.h"
#include "observe/access_log.h"
#include "observe/metrics.h"
#include "rpc/listener.h"
#include "rpc/method_table.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace nodegate::rpc {

enum class Engine { kGrpc, kH2 };

struct ServerOptions {
  Engine engine = Engine::kGrpc;
  struct Endpoint {
    std::string address;  // "host:port"; port 0 picks a free one
    std::shared_ptr<grpc::ServerCredentials> credentials;
    // TLS endpoints: plaintext peers (HTTP/1, h2c) are refused at accept and recorded here with
    // their address (Listener::ScreenPlaintext), as `name`. Null: every connection goes to gRPC.
    std::shared_ptr<observe::HandshakeLog> plaintext_log;
    std::string name = "grpc";
    // Engine kH2 only: the TLS context for each new connection (a tls::SslContextFollower's, so a
    // reload applies to the next handshake; ALPN "h2" is required). Null: cleartext HTTP/2 (h2c)
    // for loopback peers only, the local listener's rule. `credentials` is unused by kH2.
    std::function<std::shared_ptr<boost::asio::ssl::context>()> tls_context;
  };
  std::vector<Endpoint> listeners;
  int threads = 0;           // completion-queue threads; 0 = the CPUs this process may run on
  int blocking_threads = 4;  // workers for Execution::kBlocking handlers

  // Bounds on what peers may hold (design §8). Each listener accepts through an rpc::Listener.
  ListenerLimits connection_limits;                      // per listener
  absl::Duration handshake_timeout = absl::Seconds(10);  // TCP accept → HTTP/2 ready (TLS included)
  absl::Duration idle_timeout = absl::Minutes(5);        // a connection with no call for this long
  int max_concurrent_streams = 100;                      // calls at once on one connection
  int max_streams = 1000;          // streaming calls open at once, all connections
  int max_queued_blocking = 1024;  // kBlocking calls waiting for a worker
  // Anonymous calls (allowed without a principal, i.e. public methods such as health, AddNode,
  // Ping, from a peer without a verified client certificate) per method and second, with a burst
  // of twice that; over it the call is RESOURCE_EXHAUSTED before its handler. 0 = unlimited.
  // Calls with a principal, or over mTLS, never touch these buckets.
  double anonymous_rate = 200;

  // Both engines: a larger request or response message fails the call RESOURCE_EXHAUSTED (a
  // request before its handler runs).
  size_t max_receive_message_bytes = 4 << 20;
  size_t max_send_message_bytes = 4 << 20;
  // Engine kH2 only (kGrpc keeps gRPC's own limits, which match these defaults).
  uint32_t max_header_list_bytes = 16 << 10;  // SETTINGS_MAX_HEADER_LIST_SIZE; over it the call
                                              // fails RESOURCE_EXHAUSTED before any handler
  // A connection whose peer keeps responses waiting (a closed flow-control window, or no reading
  // at all) and lets no call finish for this long is closed.
  absl::Duration stall_timeout = absl::Seconds(30);
  // Request bytes held for unfinished messages plus response bytes not yet sent, per connection;
  // the call that would pass it fails RESOURCE_EXHAUSTED.
  size_t max_buffered_bytes = 16 << 20;
};

// What the server core refused or shed, for /metrics.
struct ServerStats {
  ListenerStats connections;  // summed over the listeners
  uint64_t streams_open = 0;
  uint64_t refused_streams = 0;         // over max_streams
  uint64_t refused_queue_full = 0;      // over max_queued_blocking
  uint64_t skipped_expired = 0;         // blocking calls whose deadline passed in the queue
  uint64_t refused_anonymous_rate = 0;  // calls without credentials over anonymous_rate
};

class Server {
 public:
  // Binds every listener and starts serving `methods`. `access_log` and `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      ServerOptions options, std::shared_ptr<const MethodTable> methods,
      std::shared_ptr<auth::Authorizer> authorizer, std::shared_ptr<observe::AccessLog> access_log,
      std::shared_ptr<observe::Metrics> metrics);
  ~Server();

  // The port each listener bound, in the order given (resolves port 0).
  const std::vector<int>& ports() const;
  ServerStats stats() const;
  // Stops accepting calls, lets calls in flight finish until `grace`, then cancels the rest and
  // stops every thread. Idempotent.
  void Shutdown(absl::Duration grace);

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nodegate::rpc
