#include "deploy/nginx.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace nodegate::deploy {

namespace {

// nginx resolves relative paths against its own prefix, not against our config file.
std::string Abs(const std::string& path) {
  if (path.empty()) return path;
  return std::filesystem::absolute(path).lexically_normal().string();
}

// A call without a valid client certificate gets a gRPC status, not nginx's HTTP 400 page (which
// grpcio and grpc-go report as INTERNAL): nginx hands 496 (no certificate) and 495 (one that
// failed verification: unknown CA, expired, revoked) to error_page, and these answer 200 with
// grpc-status 16 UNAUTHENTICATED and the reason in grpc-message, a Trailers-Only response.
// $ssl_client_verify is "FAILED:<OpenSSL's reason>", e.g. "FAILED:certificate revoked".
constexpr char kClientCertErrors[] =
    "    # A missing or refused client certificate is answered as gRPC UNAUTHENTICATED (16) with\n"
    "    # the reason, instead of an HTTP 400 page that gRPC clients report as INTERNAL.\n"
    "    error_page 496 = @nodegate_no_client_cert;\n"
    "    error_page 495 = @nodegate_bad_client_cert;\n"
    "    location @nodegate_no_client_cert {\n"
    "        default_type application/grpc;\n"
    "        add_header grpc-status 16 always;\n"
    "        add_header grpc-message \"no client certificate: this endpoint requires one issued by "
    "the node's CA\" always;\n"
    "        return 200 \"\";\n"
    "    }\n"
    "    location @nodegate_bad_client_cert {\n"
    "        default_type application/grpc;\n"
    "        add_header grpc-status 16 always;\n"
    "        add_header grpc-message \"client certificate refused: $ssl_client_verify\" always;\n"
    "        return 200 \"\";\n"
    "    }\n\n";

bool IsHostNameChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '-'; }

// The `server` lines of the upstream block, one per address.
absl::StatusOr<std::vector<std::string>> UpstreamServers(const server::NodeConfig& node,
                                                         const NginxOptions& o, bool grpcs) {
  if (o.replicas.empty()) {
    std::string addr = grpcs ? node.grpc.listen : node.grpc.local_listen;
    if (addr.empty()) {
      return absl::FailedPreconditionError(
          "backend h2c needs grpc.local_listen in the node config (a loopback address)");
    }
    if (absl::EndsWith(addr, ":0")) {
      return absl::FailedPreconditionError(
          absl::StrCat("the node listens on an ephemeral port (", addr, "); give a fixed port"));
    }
    return std::vector<std::string>{addr};
  }
  std::vector<std::string> servers;
  for (const std::string& replica : o.replicas) {
    if (absl::Status s = CheckReplicaAddress(replica, /*loopback_only=*/!grpcs); !s.ok()) {
      return s;
    }
    if (std::find(servers.begin(), servers.end(), replica) != servers.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--replica '", replica, "': given twice; list each replica once (nginx would send it ",
          "twice the share of calls)"));
    }
    servers.push_back(replica);
  }
  return servers;
}

}  // namespace

absl::Status CheckReplicaAddress(std::string_view address, bool loopback_only) {
  const absl::string_view value(address.data(), address.size());
  auto refused = [value](std::string_view why_and_fix) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--replica '", value, "': ", absl::string_view(why_and_fix.data(), why_and_fix.size())));
  };
  auto bad = [refused](std::string_view why) {
    return refused(absl::StrCat(
        absl::string_view(why.data(), why.size()),
        "; give HOST:PORT, e.g. 10.0.0.11:8443, [fd00::11]:8443 or replica-1.example:8443"));
  };
  std::string host;
  std::string_view port;
  bool ipv6 = false;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) return bad("'[' without ']'");
    host = std::string(address.substr(1, close - 1));
    in6_addr ignored;
    if (inet_pton(AF_INET6, host.c_str(), &ignored) != 1) return bad("not an IPv6 address in []");
    if (close + 1 >= address.size() || address[close + 1] != ':') return bad("no :PORT");
    port = address.substr(close + 2);
    ipv6 = true;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return bad("no :PORT");
    host = std::string(address.substr(0, colon));
    port = address.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad("an IPv6 address needs brackets");
    if (host.empty()) return bad("no host");
    if (host.size() > 253 || !std::all_of(host.begin(), host.end(), IsHostNameChar)) {
      return bad("the host is not a name or an address (letters, digits, '.', '-')");
    }
  }
  int number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(absl::string_view(port.data(), port.size()), &number) || number > 65535) {
    return bad("the port is not a number in 1..65535");
  }
  if (number == 0) {
    return refused("port 0 means an ephemeral port; give the fixed port the replica listens on");
  }
  if (loopback_only) {
    in_addr v4;
    const bool loopback =
        host == "localhost" || (ipv6 && host == "::1") ||
        (!ipv6 && inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127);
    if (!loopback) {
      return refused(
          "not a loopback address, and backend h2c reaches each replica's grpc.local_listen, "
          "which only loopback peers may use (localhost, 127.0.0.0/8, [::1]); for replicas on "
          "other hosts use --backend grpcs and their grpc.listen");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RenderNginx(const server::NodeConfig& node, const NginxOptions& o) {
  const bool grpcs = o.backend == "grpcs";
  if (!grpcs && o.backend != "h2c") {
    return absl::InvalidArgumentError("backend: must be grpcs or h2c");
  }
  absl::StatusOr<std::vector<std::string>> servers = UpstreamServers(node, o, grpcs);
  if (!servers.ok()) return servers.status();
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

  std::string upstream;
  if (servers->size() > 1) {
    absl::StrAppend(
        &upstream, "    # ", servers->size(), " replicas of node ", node.node.id,
        " (one node.id, one store.url; docs/deploy.md \"Fleet\").\n",
        "    # Each call goes to the next replica in turn; one that refuses connections or times\n",
        "    # out is skipped for 10 s (nginx's max_fails=1 fail_timeout=10s).\n");
  }
  for (const std::string& address : *servers) {
    absl::StrAppend(&upstream, "    server ", address, ";\n");
  }
  std::string server = absl::StrCat(
      "# nodegate ", node.node.id, ": nginx terminates mTLS and forwards the verified client\n",
      "# certificate; the node trusts it only from this proxy (docs/deploy.md).\n",
      "upstream nodegate_", absl::StrReplaceAll(node.node.id, {{".", "_"}, {"-", "_"}}), " {\n",
      upstream,
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
      "    grpc_read_timeout 300s;\n", "    grpc_send_timeout 300s;\n\n", kClientCertErrors,
      "    location / {\n", "        grpc_pass ", grpcs ? "grpcs" : "grpc", "://nodegate_",
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
