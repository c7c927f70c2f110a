// EchoServer: the seed's echo server with TLS — every byte a client sends comes back, and a
// half-close is answered with a half-close. TLS when files.cert/key are set (client certificates
// per client_auth, verified against files.ca), plain TCP otherwise: a test peer for tunnels and for
// users checking their certificates. Uses TunnelOptions' listen, files, client_auth, idle_timeout,
// max_connections (target and allow-lists do not apply).
// Every connection ends with one log line: peer, identity, bytes each way, duration, close reason.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tunnel/proxy.h"
#include "tunnel/tunnel_options.h"

namespace nodegate::tunnel {

class EchoServer {
 public:
  // Validates `options` (errors name the field), loads and checks the TLS files, binds, and starts
  // serving on its own thread.
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(const TunnelOptions& options);

  // "host:port" actually bound (port 0 resolved).
  const std::string& address() const { return proxy_->address(); }
  // Re-checks the TLS files now (SIGHUP); the error says why a changed set was refused.
  absl::Status Reload() { return proxy_->Reload(); }
  // Stops accepting and closes open connections ("close=shutdown"). Idempotent; also on
  // destruction.
  void Stop() { proxy_->Stop(); }
  internal::ProxyStats stats() const { return proxy_->stats(); }

 private:
  explicit EchoServer(std::unique_ptr<internal::Proxy> proxy) : proxy_(std::move(proxy)) {}
  std::unique_ptr<internal::Proxy> proxy_;
};

}  // namespace nodegate::tunnel
