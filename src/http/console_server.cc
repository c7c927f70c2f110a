#include "http/console_server.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "crypto/openssl_ptr.h"
#include "pki/certificate_info.h"
#include "spdlog/spdlog.h"

namespace nodegate::http {

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(
    ConsoleServerOptions options, std::shared_ptr<Gateway> gateway) {
  if (!options.credentials || gateway == nullptr) {
    return absl::InvalidArgumentError("http: credentials and gateway are required");
  }
  absl::StatusOr<std::pair<std::string, int>> hp = SplitHostPort(options.listen, "http.listen");
  if (!hp.ok()) return hp.status();

  std::unique_ptr<ConsoleServer> s(new ConsoleServer());
  s->gateway_ = std::move(gateway);
  absl::StatusOr<std::unique_ptr<HttpsTls>> tls = HttpsTls::New(options.credentials, "http");
  if (!tls.ok()) return tls.status();
  s->tls_ = *std::move(tls);
  HttpsTls* tls_state = s->tls_.get();
  const tls::ClientAuth client_auth = options.client_auth;
  s->server_ = std::make_unique<httplib::SSLServer>([tls_state, client_auth](SSL_CTX& ctx) {
    tls_state->Configure(ctx, client_auth);
    return true;
  });
  if (!s->server_->is_valid()) return absl::InternalError("http: cannot create the TLS context");

  httplib::SSLServer& server = *s->server_;
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);
  server.set_keep_alive_timeout(5);
  server.set_payload_max_length(options.max_body_bytes);
  Gateway* g = s->gateway_.get();
  auto handler = [g](const httplib::Request& req, httplib::Response& res) {
    HttpRequest in;
    in.method = req.method;
    in.path = req.path;
    for (const auto& [k, v] : req.params) in.query.emplace(k, v);
    for (const auto& [k, v] : req.headers) in.headers.emplace(absl::AsciiStrToLower(k), v);
    in.body = req.body;
    in.peer = VerifiedPeer(req.ssl);
    in.remote = absl::StrCat(req.remote_addr, ":", req.remote_port);
    HttpResponse out = g->Handle(in);
    res.status = out.status;
    for (const auto& [k, v] : out.headers) res.set_header(k, v);
    res.set_content(std::move(out.body), out.content_type);
  };
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Delete(".*", handler);
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                                  std::exception_ptr) {
    res.status = 500;
    res.set_content("{\"error\":\"internal error\",\"code\":\"INTERNAL\"}", "application/json");
  });

  absl::StatusOr<std::string> address =
      BindAndServe(server, options.listen, "http.listen", &s->thread_);
  if (!address.ok()) return address.status();
  s->address_ = *std::move(address);
  return s;
}

void ConsoleServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

ConsoleServer::~ConsoleServer() { Stop(); }

}  // namespace nodegate::http
