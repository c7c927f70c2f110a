// gRPC's own log lines (handshake failures, transport errors) routed into the node's log, at most
// one line per second per gRPC call site (`file:line`), with the count of lines held back. A
// thousand bogus TLS connections then cost a handful of log lines, not a thousand, while the
// counts stay visible in /metrics.
#pragma once

#include <cstdint>
#include <memory>

#include "observe/handshake_log.h"

namespace nodegate::rpc {

// Installs the route (process-wide; gRPC has one log function). Idempotent.
void RouteGrpcLogs();

// Where gRPC's handshake failures are recorded, by reason (listener "grpc"). gRPC 1.51 runs the
// TLS handshake itself and reports a failure only as a log line without the peer's address or
// certificate, so those fields stay empty; the reason comes from OpenSSL's error in the line (and
// the X509 verify code gRPC logs just before it on the same thread). Null: none.
void SetGrpcHandshakeLog(std::shared_ptr<observe::HandshakeLog> log);

// TLS/ALPN handshakes that failed on any listener (gRPC reports each with a log line).
uint64_t HandshakeFailures();
// gRPC log lines held back by the rate limit.
uint64_t SuppressedGrpcLogLines();

}  // namespace nodegate::rpc
