#include "tunnel/tunnel_client.h"

namespace nodegate::tunnel {

absl::StatusOr<std::unique_ptr<TunnelClient>> TunnelClient::Start(const TunnelOptions& options) {
  absl::StatusOr<std::unique_ptr<internal::Proxy>> proxy =
      internal::Proxy::Start(internal::ProxyMode::kTunnelClient, options);
  if (!proxy.ok()) return proxy.status();
  return std::unique_ptr<TunnelClient>(new TunnelClient(*std::move(proxy)));
}

}  // namespace nodegate::tunnel
