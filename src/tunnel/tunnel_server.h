// TunnelServer: TLS in (mTLS required by default), the client's identity checked against the
// allow-lists, bytes forwarded to a plain TCP backend (ghostunnel's server mode).
// Every connection ends with one log line: peer, identity, bytes each way, duration, close reason.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tunnel/proxy.h"
#include "tunnel/tunnel_options.h"

namespace nodegate::tunnel {

class TunnelServer {
 public:
  // Validates `options` (errors name the field), loads and checks the TLS files, binds, and starts
  // serving on its own thread.
  static absl::StatusOr<std::unique_ptr<TunnelServer>> Start(const TunnelOptions& options);

  // "host:port" actually bound (port 0 resolved).
  const std::string& address() const { return proxy_->address(); }
  // Re-checks the TLS files now (SIGHUP); the error says why a changed set was refused.
  absl::Status Reload() { return proxy_->Reload(); }
  // Stops accepting and closes open connections ("close=shutdown"). Idempotent; also on
  // destruction.
  void Stop() { proxy_->Stop(); }
  internal::ProxyStats stats() const { return proxy_->stats(); }

 private:
  explicit TunnelServer(std::unique_ptr<internal::Proxy> proxy) : proxy_(std::move(proxy)) {}
  std::unique_ptr<internal::Proxy> proxy_;
};

}  // namespace nodegate::tunnel
