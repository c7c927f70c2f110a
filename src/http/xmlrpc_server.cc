#include "http/xmlrpc_server.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "http/xmlrpc_kv.h"

namespace nodegate::http {
namespace {

std::string HeaderValue(const HttpRequest& r, const char* name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

}  // namespace

absl::StatusOr<std::unique_ptr<XmlRpcServer>> XmlRpcServer::Start(
    XmlRpcServerOptions options, std::shared_ptr<store::KvStore> kv) {
  if (!options.credentials || kv == nullptr) {
    return absl::InvalidArgumentError("xmlrpc: credentials and a store are required");
  }
  if (options.max_request_bytes < 1024) {
    return absl::InvalidArgumentError("xmlrpc.max_request_bytes: must be at least 1024");
  }
  if (options.read_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("xmlrpc.read_timeout: must be positive");
  }

  std::unique_ptr<XmlRpcServer> s(new XmlRpcServer());
  RaiseXmlSizeLimit(options.max_request_bytes);
  absl::StatusOr<std::unique_ptr<XmlRpcKv>> methods = XmlRpcKv::New(std::move(kv));
  if (!methods.ok()) return methods.status();
  s->kv_ = *std::move(methods);

  XmlRpcKv* handler_kv = s->kv_.get();
  auto authorizer = options.authorizer;
  auto access_log = options.access_log;
  auto metrics = options.metrics;
  auto handler = [handler_kv, authorizer, access_log,
                  metrics](const HttpRequest& req) -> HttpResponse {
    // SimpleXMLRPCServer's rpc_paths, POST only.
    if (req.path != "/" && req.path != "/RPC2")
      return HttpResponse{404, "text/plain", "not found\n", {}};
    if (req.method != "POST") {
      return HttpResponse{405, "text/plain", "method not allowed\n", {{"Allow", "POST"}}};
    }
    const auto start = std::chrono::steady_clock::now();
    grpc::StatusCode code = grpc::StatusCode::OK;
    auth::Decision decision;
    if (authorizer != nullptr) {
      // HttpsServer lower-cases header names, as gRPC metadata keys are.
      auth::Metadata md;
      for (const auto& [k, v] : req.headers) {
        md.emplace(grpc::string_ref(k.data(), k.size()), grpc::string_ref(v.data(), v.size()));
      }
      decision = authorizer->Authorize(kXmlRpcMethod, md, req.peer, absl::Now());
      code = decision.status.error_code();
    }
    HttpResponse res;
    if (code == grpc::StatusCode::OK) {
      res.content_type = "text/xml";
      res.body = handler_kv->Handle(req.body);
    } else {
      res.status = code == grpc::StatusCode::PERMISSION_DENIED ? 403
                   : code == grpc::StatusCode::UNAUTHENTICATED ? 401
                                                               : 429;
      res.content_type = "text/plain";
      res.body = decision.status.error_message() + "\n";
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (metrics) metrics->RecordCall(kXmlRpcMethod, static_cast<int>(code), seconds);
    if (access_log && access_log->enabled()) {
      observe::AccessRecord r;
      r.time = absl::Now();
      r.authority = HeaderValue(req, "host");
      r.peer = absl::StrCat("https:", req.remote);
      r.method = kXmlRpcMethod;
      r.code = static_cast<int>(code);
      r.duration_ms = seconds * 1000;
      r.user_agent = HeaderValue(req, "user-agent");
      r.client_cn = req.peer.common_name;
      r.principal = decision.principal.ToString();
      if (!decision.status.ok()) {
        r.reason = absl::StrCat(std::string(auth::RejectionName(decision.rejection)),
                                decision.detail.empty() ? "" : ": ", decision.detail);
      }
      access_log->Write(r);
    }
    return res;
  };

  HttpsServerOptions o;
  o.listen = std::move(options.listen);
  o.name = "xmlrpc";
  o.client_auth = options.client_auth;
  o.credentials = std::move(options.credentials);
  o.limits = options.limits;
  o.limits.max_body_bytes = options.max_request_bytes;
  o.limits.request_timeout = options.read_timeout;
  o.metrics = std::move(options.metrics);
  o.handshake_log = std::move(options.handshake_log);
  absl::StatusOr<std::unique_ptr<HttpsServer>> server =
      HttpsServer::Start(std::move(o), std::move(handler));
  if (!server.ok()) return server.status();
  s->server_ = *std::move(server);
  return s;
}

void XmlRpcServer::Stop() {
  if (server_) server_->Stop();
}

XmlRpcServer::~XmlRpcServer() { Stop(); }

}  // namespace nodegate::http
