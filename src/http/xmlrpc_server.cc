#include "http/xmlrpc_server.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <chrono>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "crypto/openssl_ptr.h"
#include "http/xmlrpc_kv.h"
#include "spdlog/spdlog.h"

namespace nodegate::http {

absl::StatusOr<std::unique_ptr<XmlRpcServer>> XmlRpcServer::Start(
    XmlRpcServerOptions options, std::shared_ptr<store::KvStore> kv) {
  if (!options.credentials || kv == nullptr) {
    return absl::InvalidArgumentError("xmlrpc: credentials and a store are required");
  }
  if (options.max_request_bytes < 1024) {
    return absl::InvalidArgumentError("xmlrpc.max_request_bytes: must be at least 1024");
  }
  absl::StatusOr<std::pair<std::string, int>> hp = SplitHostPort(options.listen, "xmlrpc.listen");
  if (!hp.ok()) return hp.status();

  std::unique_ptr<XmlRpcServer> s(new XmlRpcServer());
  absl::StatusOr<std::unique_ptr<HttpsTls>> tls = HttpsTls::New(options.credentials, "xmlrpc");
  if (!tls.ok()) return tls.status();
  s->tls_ = *std::move(tls);
  if (options.client_auth != tls::ClientAuth::kNone && !s->tls_->has_ca()) {
    return absl::InvalidArgumentError(
        "xmlrpc.client_auth: needs tls.ca to verify client certificates (or \"none\")");
  }
  RaiseXmlSizeLimit(options.max_request_bytes);
  absl::StatusOr<std::unique_ptr<XmlRpcKv>> methods = XmlRpcKv::New(std::move(kv));
  if (!methods.ok()) return methods.status();
  s->kv_ = *std::move(methods);

  HttpsTls* tls_state = s->tls_.get();
  const tls::ClientAuth client_auth = options.client_auth;
  s->server_ = std::make_unique<httplib::SSLServer>([tls_state, client_auth](SSL_CTX& ctx) {
    tls_state->Configure(ctx, client_auth);
    return true;
  });
  if (!s->server_->is_valid()) return absl::InternalError("xmlrpc: cannot create the TLS context");

  httplib::SSLServer& server = *s->server_;
  const auto read_timeout = absl::ToInt64Milliseconds(options.read_timeout);
  server.set_read_timeout(read_timeout / 1000, (read_timeout % 1000) * 1000);
  server.set_write_timeout(10, 0);
  server.set_keep_alive_timeout(5);
  server.set_payload_max_length(options.max_request_bytes);
  XmlRpcKv* handler_kv = s->kv_.get();
  auto authorizer = options.authorizer;
  auto access_log = options.access_log;
  auto metrics = options.metrics;
  auto handler = [handler_kv, authorizer, access_log, metrics](const httplib::Request& req,
                                                               httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    tls::PeerIdentity peer = VerifiedPeer(req.ssl);
    grpc::StatusCode code = grpc::StatusCode::OK;
    auth::Decision decision;
    if (authorizer != nullptr) {
      // HTTP header names are case-insensitive; gRPC metadata keys are lower case.
      std::vector<std::pair<std::string, std::string>> lowered;
      lowered.reserve(req.headers.size());
      for (const auto& [k, v] : req.headers) lowered.emplace_back(absl::AsciiStrToLower(k), v);
      auth::Metadata md;
      for (const auto& [k, v] : lowered) {
        md.emplace(grpc::string_ref(k.data(), k.size()), grpc::string_ref(v.data(), v.size()));
      }
      decision = authorizer->Authorize(kXmlRpcMethod, md, peer, absl::Now());
      code = decision.status.error_code();
    }
    if (code == grpc::StatusCode::OK) {
      res.set_content(handler_kv->Handle(req.body), "text/xml");
    } else {
      res.status = code == grpc::StatusCode::PERMISSION_DENIED ? 403
                   : code == grpc::StatusCode::UNAUTHENTICATED ? 401
                                                                : 429;
      res.set_content(decision.status.error_message() + "\n", "text/plain");
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (metrics) metrics->RecordCall(kXmlRpcMethod, static_cast<int>(code), seconds);
    if (access_log && access_log->enabled()) {
      observe::AccessRecord r;
      r.time = absl::Now();
      r.authority = req.get_header_value("Host");
      r.peer = absl::StrCat("https:", req.remote_addr, ":", req.remote_port);
      r.method = kXmlRpcMethod;
      r.code = static_cast<int>(code);
      r.duration_ms = seconds * 1000;
      r.user_agent = req.get_header_value("User-Agent");
      r.client_cn = peer.common_name;
      r.principal = decision.principal.ToString();
      if (!decision.status.ok()) {
        r.reason = absl::StrCat(std::string(auth::RejectionName(decision.rejection)),
                                decision.detail.empty() ? "" : ": ", decision.detail);
      }
      access_log->Write(r);
    }
  };
  // SimpleXMLRPCServer's rpc_paths.
  server.Post("/", handler);
  server.Post("/RPC2", handler);
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content("internal error\n", "text/plain");
      });

  absl::StatusOr<std::string> address =
      BindAndServe(server, options.listen, "xmlrpc.listen", &s->thread_);
  if (!address.ok()) return address.status();
  s->address_ = *std::move(address);
  return s;
}

void XmlRpcServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

XmlRpcServer::~XmlRpcServer() { Stop(); }

}  // namespace nodegate::http
