// Engine kH2 under rpc::Server: gRPC served by our own HTTP/2 stack — nghttp2 for HTTP/2 (framing,
// HPACK, flow control, its defences against rapid reset, CONTINUATION and SETTINGS/PING floods),
// OpenSSL through Boost.Asio for TLS (ALPN "h2" required), and gRPC's protocol above it written
// here (grpc_wire.h): length-prefixed messages, grpc-timeout, status trailers, "-bin" metadata,
// cancellation by RST_STREAM, GOAWAY drain, identity encoding only.
//
// Why: every response produced while one read from a connection is processed goes out in one
// TLS write (one record, one sendmsg), where gRPC C++ 1.51 writes each unary response on its own
// (docs/benchmarks.md). One event loop per allowed CPU; each connection lives on one loop, handed
// out round-robin by the endpoint's rpc::Listener (which keeps its connection cap, descriptor
// headroom and plaintext screening). Calls go through internal::Shared exactly as on engine
// kGrpc: Authorizer before any handler, anonymous budget, blocking handlers on the workers,
// max_streams, access log and metrics.
//
// Bounds per connection: handshake_timeout (TCP accept → TLS done, and a header block begun
// but not finished), idle_timeout (no call open), max_concurrent_streams (SETTINGS, enforced by
// nghttp2), max_header_list_bytes (SETTINGS; over it the call fails RESOURCE_EXHAUSTED),
// max_receive/send_message_bytes, max_buffered_bytes (request bytes held plus response bytes
// waiting), stall_timeout (responses waiting on a peer that reads nothing).
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rpc/listener.h"

namespace nodegate::rpc {

namespace internal {
struct Shared;
}  // namespace internal

class H2Engine {
 public:
  // Binds every endpoint of shared->options and starts serving. `shared` must outlive the engine.
  static absl::StatusOr<std::unique_ptr<H2Engine>> Start(internal::Shared* shared);
  ~H2Engine();

  const std::vector<int>& ports() const;
  ListenerStats connection_stats() const;  // summed over the endpoints
  // Stops accepting, sends GOAWAY on every connection, lets calls in flight finish until `grace`,
  // then closes what is left and stops the loops. Idempotent.
  void Shutdown(absl::Duration grace);

  struct Impl;

 private:
  explicit H2Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nodegate::rpc
