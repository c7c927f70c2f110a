// gRPC's own log lines (handshake failures, transport errors) routed into the node's log, at most
// one line per second per gRPC call site (`file:line`), with the count of lines held back. A
// thousand bogus TLS connections then cost a handful of log lines, not a thousand, while the
// counts stay visible in /metrics.
#pragma once

#include <cstdint>

namespace nodegate::rpc {

// Installs the route (process-wide; gRPC has one log function). Idempotent.
void RouteGrpcLogs();

// TLS/ALPN handshakes that failed on any listener (gRPC reports each with a log line).
uint64_t HandshakeFailures();
// gRPC log lines held back by the rate limit.
uint64_t SuppressedGrpcLogLines();

}  // namespace nodegate::rpc
