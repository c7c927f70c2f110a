// Refused TLS handshakes, told to the operator: each refusal is counted per listener and reason
// (/metrics: nodegate_tls_handshake_failures_total) and written as an access-log line with the
// peer address, the presented certificate's subject and serial when there was one, and the reason
// in words. A flood of bad peers costs one line per listener and reason per interval; the next
// line that passes says how many were held back.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "observe/access_log.h"
#include "observe/log_limiter.h"

namespace nodegate::observe {

struct HandshakeRefusal {
  std::string listener;  // "grpc", "http", "xmlrpc"
  std::string peer;      // "127.0.0.1:5555"; empty when the listener cannot know it
  std::string reason;    // metric label: revoked, unknown_ca, expired, no_client_certificate, …
  std::string words;     // the reason for a person: "certificate revoked"
  std::string subject;   // of the presented client certificate; empty when none was seen
  std::string serial;    // its serial (uppercase hex)
  std::string detail;    // what the TLS library said, for the curious
};

class HandshakeLog {
 public:
  // `access_log` may be null (then only the node's log gets the line).
  explicit HandshakeLog(std::shared_ptr<AccessLog> access_log,
                        absl::Duration interval = absl::Seconds(1))
      : access_log_(std::move(access_log)), limiter_(interval) {}

  // Counts the refusal and, unless the limiter holds it back, writes its line at `now`. Returns
  // true when a line was written. Thread-safe.
  bool Record(const HandshakeRefusal& refusal, absl::Time now);

  // (listener, reason) → refusals since start.
  std::map<std::pair<std::string, std::string>, uint64_t> Counts() const;
  uint64_t suppressed() const { return limiter_.total_suppressed(); }

 private:
  std::shared_ptr<AccessLog> access_log_;
  LogLimiter limiter_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> counts_;
};

// The line's text (the access-log record's "reason"): "tls handshake refused: <words>
// (subject …, serial …)[: detail][; N more like this suppressed]". Exposed for tests.
std::string HandshakeRefusalText(const HandshakeRefusal& refusal, uint64_t suppressed);

}  // namespace nodegate::observe
