#include "http/console_server.h"

#include <utility>

namespace nodegate::http {

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(
    ConsoleServerOptions options, std::shared_ptr<Gateway> gateway) {
  if (!options.credentials || gateway == nullptr) {
    return absl::InvalidArgumentError("http: credentials and gateway are required");
  }
  std::unique_ptr<ConsoleServer> s(new ConsoleServer());
  s->gateway_ = std::move(gateway);
  HttpsServerOptions o;
  o.listen = std::move(options.listen);
  o.name = "http";
  o.client_auth = options.client_auth;
  o.credentials = std::move(options.credentials);
  o.limits = options.limits;
  o.metrics = std::move(options.metrics);
  o.handshake_log = std::move(options.handshake_log);
  Gateway* g = s->gateway_.get();
  absl::StatusOr<std::unique_ptr<HttpsServer>> server =
      HttpsServer::Start(std::move(o), [g](const HttpRequest& request) -> HttpResponse {
        const std::string& m = request.method;
        if (m != "GET" && m != "POST" && m != "PUT" && m != "DELETE") {
          return HttpResponse{405,
                              "application/json",
                              "{\"error\":\"method not allowed\",\"code\":\"UNIMPLEMENTED\"}",
                              {{"Allow", "GET, POST, PUT, DELETE"}}};
        }
        return g->Handle(request);
      });
  if (!server.ok()) return server.status();
  s->server_ = *std::move(server);
  return s;
}

void ConsoleServer::Stop() {
  if (server_) server_->Stop();
}

ConsoleServer::~ConsoleServer() { Stop(); }

}  // namespace nodegate::http
