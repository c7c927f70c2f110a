// XML-RPC over HTTPS ([xmlrpc] in the node config): the bounded HttpsServer in front of XmlRpcKv,
// serving the seed's KeyValueServer to unchanged Python clients (xmlrpc.client.ServerProxy).
//
// TLS follows the node's validated, hot-reloaded credentials: certificate, key, the CA that
// verifies client certificates and the CRL come from `credentials()` (one context per published
// set), so a rotated certificate is served here exactly when gRPC serves it. Session resumption is
// off, so every connection's client certificate is checked against the current CA and CRL.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/authorizer.h"
#include "http/https_limits.h"
#include "http/https_server.h"
#include "observe/access_log.h"
#include "observe/handshake_log.h"
#include "observe/metrics.h"
#include "store/kv_store.h"
#include "tls/credential_set.h"
#include "tls/server_credentials.h"

namespace nodegate::http {

class XmlRpcKv;

struct XmlRpcServerOptions {
  std::string listen = "127.0.0.1:15000";  // host:port; port 0 picks a free one
  // require (default): no handshake without a client certificate from the CA; request: verified
  // when presented; none: not asked for (anyone who can connect may read and write the store).
  tls::ClientAuth client_auth = tls::ClientAuth::kRequire;
  std::function<std::shared_ptr<const tls::CredentialSet>()> credentials;  // required
  // Bodies over this are answered 413 before any parsing (overrides limits.max_body_bytes).
  size_t max_request_bytes = 4 << 20;
  // The whole request (head and body) must arrive within this, counted from its first byte
  // (overrides limits.request_timeout; the head's own bound is min(limits.header_timeout, this)).
  absl::Duration read_timeout = absl::Seconds(10);
  // Connections, handshake/idle/write deadlines, header size, workers ([xmlrpc] keys).
  HttpsLimits limits;
  // When set, every request is decided by the node's Authorizer as a call to kXmlRpcMethod (one
  // name for all XML-RPC methods: a separate look at <methodName> could be made to disagree with
  // xmlrpc-c's own parser), with the HTTP headers as metadata and the verified client
  // certificate as the peer. Refusals answer HTTP 401/403. Null: only the TLS layer gates.
  std::shared_ptr<auth::Authorizer> authorizer;
  std::shared_ptr<observe::AccessLog> access_log;  // optional: one line per request
  // optional: per-call counts, and the limit trips under nodegate_xmlrpc_edge_*
  std::shared_ptr<observe::Metrics> metrics;
  std::shared_ptr<observe::HandshakeLog> handshake_log;  // optional: refused handshakes
};

inline constexpr char kXmlRpcMethod[] = "/nodegate.xmlrpc.KeyValue/Call";

class XmlRpcServer {
 public:
  // Binds (errors name xmlrpc.listen) and serves on background threads until Stop().
  static absl::StatusOr<std::unique_ptr<XmlRpcServer>> Start(XmlRpcServerOptions options,
                                                             std::shared_ptr<store::KvStore> kv);
  ~XmlRpcServer();

  // "host:port" actually bound.
  const std::string& address() const { return server_->address(); }
  HttpsServerStats stats() const { return server_->stats(); }
  // Stops accepting, closes connections and waits for running requests. Idempotent.
  void Stop();

 private:
  XmlRpcServer() = default;
  std::unique_ptr<XmlRpcKv> kv_;  // outlives server_, whose workers call it
  std::unique_ptr<HttpsServer> server_;
};

}  // namespace nodegate::http
