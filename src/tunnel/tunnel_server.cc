#include "tunnel/tunnel_server.h"

namespace nodegate::tunnel {

absl::StatusOr<std::unique_ptr<TunnelServer>> TunnelServer::Start(const TunnelOptions& options) {
  absl::StatusOr<std::unique_ptr<internal::Proxy>> proxy =
      internal::Proxy::Start(internal::ProxyMode::kTunnelServer, options);
  if (!proxy.ok()) return proxy.status();
  return std::unique_ptr<TunnelServer>(new TunnelServer(*std::move(proxy)));
}

}  // namespace nodegate::tunnel
