// What one peer may cost an HTTPS listener ([http] and [xmlrpc] in the node config,
// docs/config.md). Every field has a safe default; every trip is counted and logged (HttpsServer).
#pragma once

#include <cstddef>

#include "absl/time/time.h"

namespace nodegate::http {

struct HttpsLimits {
  // Open connections (handshaking, reading, waiting for a handler, idle). A connection accepted
  // over this is closed at once.
  size_t max_connections = 512;
  absl::Duration handshake_timeout = absl::Seconds(10);  // accept → TLS handshake done
  absl::Duration header_timeout = absl::Seconds(10);     // first byte → request head complete
  absl::Duration request_timeout = absl::Seconds(30);    // first byte → body complete
  absl::Duration idle_timeout = absl::Seconds(5);        // keep-alive wait for the next request
  absl::Duration write_timeout = absl::Seconds(10);      // one response written
  size_t max_header_bytes = 16 << 10;                    // request line + headers; over → 431
  size_t max_body_bytes = 2 << 20;                       // over → 413 (before reading it)
  // Handlers (they may touch SQLite) run on this many threads, never on the I/O thread; requests
  // waiting for one beyond `queue_depth` are answered 503.
  int workers = 4;
  size_t queue_depth = 64;
};

}  // namespace nodegate::http
