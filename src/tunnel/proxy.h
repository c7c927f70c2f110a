// The engine under TunnelServer, TunnelClient and EchoServer: one Boost.Asio io_context on one
// thread per listener (every handler runs there, so connection state needs no locks), an acceptor,
// the reloading TLS context, and one Connection per accepted socket that relays bytes both ways
// with half-close, an idle timeout and one log line at the end. Not a public interface: use the
// three wrappers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tunnel/tunnel_options.h"

namespace nodegate::tunnel::internal {

enum class ProxyMode {
  kTunnelServer,  // TLS in → plain TCP to target
  kTunnelClient,  // plain TCP in → TLS to target
  kEcho,          // TLS (or plain, without files) in → the same bytes back
};

struct ProxyStats {
  uint64_t accepted = 0;
  uint64_t active = 0;
  uint64_t refused = 0;  // allow-list, handshake failures, connection limit
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
};

class Proxy {
 public:
  // Validates options, loads the TLS files, binds `listen`, starts the io thread.
  static absl::StatusOr<std::unique_ptr<Proxy>> Start(ProxyMode mode, const TunnelOptions& options);
  ~Proxy();

  const std::string& address() const;
  // Checks the TLS files now (SIGHUP); the validation error if a changed set was refused.
  absl::Status Reload();
  // Stops accepting, closes every open connection (each logs "close=shutdown"), joins the thread.
  // Idempotent.
  void Stop();
  ProxyStats stats() const;

  class Impl;

 private:
  explicit Proxy(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace nodegate::tunnel::internal
