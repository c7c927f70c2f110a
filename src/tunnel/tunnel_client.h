// TunnelClient: plain TCP in on a local port, forwarded over mTLS to a tunnel server (or any TLS
// service) whose certificate is verified against the CA and the server name.
// Every connection ends with one log line: peer, identity, bytes each way, duration, close reason.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tunnel/proxy.h"
#include "tunnel/tunnel_options.h"

namespace nodegate::tunnel {

class TunnelClient {
 public:
  // Validates `options` (errors name the field), loads and checks the TLS files, binds, and starts
  // serving on its own thread.
  static absl::StatusOr<std::unique_ptr<TunnelClient>> Start(const TunnelOptions& options);

  // "host:port" actually bound (port 0 resolved).
  const std::string& address() const { return proxy_->address(); }
  // Re-checks the TLS files now (SIGHUP); the error says why a changed set was refused.
  absl::Status Reload() { return proxy_->Reload(); }
  // Stops accepting and closes open connections ("close=shutdown"). Idempotent; also on
  // destruction.
  void Stop() { proxy_->Stop(); }
  internal::ProxyStats stats() const { return proxy_->stats(); }

 private:
  explicit TunnelClient(std::unique_ptr<internal::Proxy> proxy) : proxy_(std::move(proxy)) {}
  std::unique_ptr<internal::Proxy> proxy_;
};

}  // namespace nodegate::tunnel
