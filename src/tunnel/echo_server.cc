#include "tunnel/echo_server.h"

namespace nodegate::tunnel {

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Start(const TunnelOptions& options) {
  absl::StatusOr<std::unique_ptr<internal::Proxy>> proxy =
      internal::Proxy::Start(internal::ProxyMode::kEcho, options);
  if (!proxy.ok()) return proxy.status();
  return std::unique_ptr<EchoServer>(new EchoServer(*std::move(proxy)));
}

}  // namespace nodegate::tunnel
