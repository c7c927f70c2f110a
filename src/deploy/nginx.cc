#include "deploy/nginx.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace nodegate::deploy {

namespace {

// nginx resolves relative paths against its own prefix, not against our config file.
std::string Abs(const std::string& path) {
  if (path.empty()) return path;
  return std::filesystem::absolute(path).lexically_normal().string();
}

}  // namespace

absl::StatusOr<std::string> RenderNginx(const server::NodeConfig& node, const NginxOptions& o) {
  const bool grpcs = o.backend == "grpcs";
  if (!grpcs && o.backend != "h2c") {
    return absl::InvalidArgumentError("backend: must be grpcs or h2c");
  }
  std::string backend_addr = grpcs ? node.grpc.listen : node.grpc.local_listen;
  if (backend_addr.empty()) {
    return absl::FailedPreconditionError(
        "backend h2c needs grpc.local_listen in the node config (a loopback address)");
  }
  if (backend_addr.size() > 2 && backend_addr.substr(backend_addr.size() - 2) == ":0") {
    return absl::FailedPreconditionError(absl::StrCat("the node listens on an ephemeral port (",
                                                      backend_addr, "); give a fixed port"));
  }
  if (grpcs && (o.proxy_cert.empty() || o.proxy_key.empty())) {
    return absl::InvalidArgumentError(
        "backend grpcs needs --proxy-cert and --proxy-key (nginx's client certificate towards "
        "the node; register it with the role proxy or list it in auth.forwarded.trusted_proxies)");
  }
  if (node.tls.files.ca.empty()) {
    return absl::FailedPreconditionError(
        "the node config has no tls.ca: nginx needs it to verify "
        "clients");
  }
  const std::string cert = Abs(o.server_cert.empty() ? node.tls.files.cert : o.server_cert);
  const std::string key = Abs(o.server_key.empty() ? node.tls.files.key : o.server_key);
  const std::string ca = Abs(node.tls.files.ca);
  const std::string crl = Abs(node.tls.files.crl);

  std::string server = absl::StrCat(
      "# nodegate ", node.node.id, ": nginx terminates mTLS and forwards the verified client\n",
      "# certificate; the node trusts it only from this proxy (docs/deploy.md).\n",
      "upstream nodegate_", absl::StrReplaceAll(node.node.id, {{".", "_"}, {"-", "_"}}), " {\n",
      "    server ", backend_addr, ";\n",
      "    # Without keepalive nginx opens a new upstream connection (and TLS handshake) per "
      "call.\n",
      "    keepalive 64;\n", "}\n\n", "server {\n", "    listen ", o.listen, " ssl http2;\n",
      "    ssl_certificate     ", cert, ";\n", "    ssl_certificate_key ", key, ";\n",
      "    ssl_protocols TLSv1.2 TLSv1.3;\n", "    ssl_client_certificate ", ca, ";\n",
      "    ssl_verify_client on;\n", "    ssl_verify_depth 3;\n",
      crl.empty() ? "" : absl::StrCat("    ssl_crl ", crl, ";\n"),
      "    # nginx drops headers with underscores unless told otherwise: the seed's app_key and\n",
      "    # app_secret metadata would vanish.\n", "    underscores_in_headers ",
      o.underscores_in_headers ? "on" : "off", ";\n", "    client_max_body_size 4m;\n",
      "    grpc_read_timeout 300s;\n", "    grpc_send_timeout 300s;\n\n", "    location / {\n",
      "        grpc_pass ", grpcs ? "grpcs" : "grpc", "://nodegate_",
      absl::StrReplaceAll(node.node.id, {{".", "_"}, {"-", "_"}}), ";\n",
      "        # grpc_set_header replaces any value a client sent itself.\n",
      "        grpc_set_header ", node.auth.forwarded.header, " $ssl_client_escaped_cert;\n");
  if (grpcs) {
    absl::StrAppend(&server, "        grpc_ssl_certificate         ", Abs(o.proxy_cert), ";\n",
                    "        grpc_ssl_certificate_key     ", Abs(o.proxy_key), ";\n",
                    "        grpc_ssl_trusted_certificate ", ca, ";\n",
                    "        grpc_ssl_verify on;\n", "        grpc_ssl_name ", o.backend_name,
                    ";\n", "        grpc_ssl_server_name on;\n",
                    "        grpc_ssl_session_reuse on;\n");
  }
  absl::StrAppend(&server, "    }\n}\n");
  if (!o.standalone) return server;

  if (o.prefix.empty()) return absl::InvalidArgumentError("standalone needs a prefix directory");
  const std::string p = Abs(o.prefix);
  return absl::StrCat(
      "# Standalone nginx.conf rendered by `nodegate deploy nginx --standalone`.\n",
      "daemon off;\n", "worker_processes 1;\n", "pid ", p, "/nginx.pid;\n", "error_log ", p,
      "/error.log info;\n\n", "events { worker_connections 1024; }\n\n", "http {\n",
      "    log_format grpc '$remote_addr $ssl_client_s_dn \"$request\" $status "
      "grpc_status=$upstream_trailer_grpc_status $request_time';\n",
      "    access_log ", p, "/access.log grpc;\n", "    client_body_temp_path ", p,
      "/client_body;\n", "    proxy_temp_path ", p, "/proxy;\n", "    fastcgi_temp_path ", p,
      "/fastcgi;\n", "    uwsgi_temp_path ", p, "/uwsgi;\n", "    scgi_temp_path ", p, "/scgi;\n\n",
      "    ", absl::StrReplaceAll(server, {{"\n", "\n    "}}), "\n}\n");
}

}  // namespace nodegate::deploy
