// The node's configuration: one TOML file parsed once into plain structs and validated there.
// Every field has a default and a line in docs/config.md. Relative paths are resolved against the
// directory of the config file. Unknown keys are errors (a typo must not silently fall back to a
// default).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/authorizer.h"
#include "auth/policy.h"
#include "http/https_limits.h"
#include "rpc/server.h"
#include "store/store_factory.h"
#include "tls/credential_set.h"
#include "tls/server_credentials.h"
#include "tunnel/tunnel_options.h"

namespace nodegate::server {

struct NodeConfig {
  std::string path;  // the file this came from

  struct Node {
    std::string id = "node";
    std::string data_dir = "data";
    std::string trust_domain = "nodegate.local";
    std::string signing_key;  // this node's signing private key (PEM); empty = none
  } node;

  struct Grpc {
    std::string listen = "127.0.0.1:8443";
    // Optional plaintext (h2c) listener for a proxy on the same host (nginx grpc_pass) or local
    // benchmarks. Loopback only: gRPC's local-TCP credentials refuse other peers, and the auth
    // hook runs on it exactly as on the TLS listener (no client certificate, so no mtls).
    std::string local_listen;
    // What takes calls off the wire (rpc::Engine): "grpc" = gRPC C++'s server, "h2" = the node's
    // own HTTP/2 engine (nghttp2 + OpenSSL; rpc/h2_engine.h). Same handlers, checks and bounds.
    rpc::Engine engine = rpc::Engine::kGrpc;
    int64_t max_receive_message_bytes = 4 << 20;       // both engines
    int64_t max_header_list_bytes = 16 << 10;          // engine h2
    absl::Duration stall_timeout = absl::Seconds(30);  // engine h2: a peer reading nothing
    absl::Duration shutdown_grace = absl::Seconds(10);
    bool reflection = true;
    bool health = true;
    // Completion-queue threads of the server core (rpc::Server); 0 = the CPUs the process may
    // run on (sched_getaffinity, so `taskset` and systemd's CPUAffinity count).
    int threads = 0;
    // Workers for handlers that wait on the store or the disk (KV, ports, registry).
    int blocking_threads = 4;
    // Edge bounds (design §8; docs/config.md): what one peer, or all of them, may hold.
    int max_connections = 4096;  // per listener; more are closed on accept
    int fd_headroom = 128;       // descriptors kept free for the store, TLS files, logs
    absl::Duration handshake_timeout = absl::Seconds(10);
    absl::Duration idle_timeout = absl::Minutes(5);
    int max_concurrent_streams = 100;  // per connection (HTTP/2 SETTINGS)
    int max_streams = 1000;            // streaming calls open at once, whole node
    int max_queued_calls = 1024;       // store calls waiting for a blocking thread
    int anonymous_rate = 200;          // calls/s per method without credentials; 0 = unlimited
  } grpc;

  struct Tls {
    tls::TlsFiles files;
    tls::ClientAuth client_auth = tls::ClientAuth::kRequire;
    absl::Duration reload_interval = absl::Seconds(1);
  } tls;

  // [store]: backend "sqlite" (path, default <node.data_dir>/nodegate.db) or "postgres" (url, a
  // libpq connection string without a password; the stores are shared by every replica).
  store::StoreConfig store;

  struct Ports {
    int first = 20000;
    int last = 20999;
    absl::Duration lease_ttl = absl::Hours(1);
  } ports;

  struct Kv {
    int64_t max_key_bytes = 1024;
    int64_t max_value_bytes = int64_t{1} << 20;
    int64_t max_total_bytes = int64_t{256} << 20;
    int64_t max_keys = 1'000'000;
  } kv;

  struct Registry {
    std::string ca_cert;  // with ca_key: this node signs joining nodes' certificates
    std::string ca_key;
    int cert_days = 365;
    absl::Duration key_grace = absl::Hours(24);  // old signing key accepted after KeypairSync
  } registry;

  struct Auth {
    uint32_t authenticators = auth::kAllAuthenticators;
    bool mtls_require_registered = false;
    absl::Duration credentials_poll = absl::Milliseconds(500);
    // How long the credential snapshot may go unconfirmed by the store (database unreachable)
    // before calls it decides are refused: the longest a revocation made meanwhile goes unseen.
    absl::Duration credential_max_age = absl::Seconds(60);
    absl::Duration max_skew = absl::Seconds(60);
    size_t replay_cache_capacity = 100000;
    absl::Duration restart_margin = absl::Seconds(1);  // see auth::AuthorizerOptions
    std::vector<auth::Rule> rules;                     // [[auth.rule]]
    struct Forwarded {
      bool enabled = false;
      std::string header = "x-forwarded-client-cert";
      std::vector<std::string> trusted_proxies;
      bool trust_local = false;
    } forwarded;  // [auth.forwarded]
  } auth;

  // [http]: the HTTPS web console + JSON gateway, /metrics, /healthz, /readyz (docs/console.md).
  struct Http {
    std::string listen;  // host:port; empty = no HTTPS listener
    // require | request | none. "request" lets browsers log in with a token; every data route
    // still needs a principal (the gRPC policy decides), so no setting makes the console open.
    tls::ClientAuth client_auth = tls::ClientAuth::kRequest;
    // The client certificate the console presents on its own gRPC calls to this node ("Roll the
    // die"); empty = tls.cert/tls.key (which then need the clientAuth key usage).
    std::string client_cert;
    std::string client_key;
    int64_t access_log_lines = 100;  // recent access-log lines kept in memory for the console
    // The console's login sessions (http::SessionStore): live sessions at most (the oldest is
    // evicted past it), idle timeout, absolute lifetime (never past the token's own expiry).
    int64_t max_sessions = 10000;
    absl::Duration session_idle_timeout = absl::Minutes(30);
    absl::Duration session_max_lifetime = absl::Hours(12);
    // Connections, deadlines, header size, handler workers. max_body_bytes is not a key: the
    // console's bodies follow kv.max_value_bytes (node.cc).
    http::HttpsLimits limits;
  } http;

  // [xmlrpc] (issue 5): the seed's KeyValueServer as XML-RPC over HTTPS on the node's certificate,
  // over the same KeyValue store as nodegate.v1.KeyValue (docs/xmlrpc.md).
  struct XmlRpc {
    std::string listen;  // host:port; empty = no XML-RPC listener
    tls::ClientAuth client_auth = tls::ClientAuth::kRequire;  // require | request | none
    int64_t max_request_bytes = int64_t{4} << 20;     // larger bodies get 413 before parsing
    absl::Duration read_timeout = absl::Seconds(10);  // the whole request, head and body
    // Connections, handshake/header/idle/write deadlines, header size, handler workers;
    // max_request_bytes and read_timeout above are its body and request bounds.
    http::HttpsLimits limits;
  } xmlrpc;

  // [[tunnel]] (issue 5): TLS proxies for plain-TCP services run by the node (docs/tunnel.md).
  struct Tunnel {
    bool client = false;  // mode = "client" (plain in, mTLS out); "server" otherwise
    tunnel::TunnelOptions options;
  };
  std::vector<Tunnel> tunnels;

  struct Log {
    std::string level = "info";
    std::string access_log = "stdout";
  } log;
};

absl::StatusOr<NodeConfig> LoadNodeConfig(const std::string& path);
// `path` names the source in errors and gives the base directory for relative paths.
absl::StatusOr<NodeConfig> ParseNodeConfig(std::string_view text, const std::string& path);

// What `nodegate call` reads from a client config ([client] table).
struct ClientConfig {
  std::string target = "127.0.0.1:8443";
  std::string ca;
  std::string cert;
  std::string key;
  std::string server_name;
  std::string node_id;
  std::string audience;  // id of the node being called (signatures); default "dev-node"
  std::string sign_key;  // PEM private key that signs calls as node_id; empty = no signature
  std::string token;
  std::string app_key;
  std::string app_secret;
};

absl::StatusOr<ClientConfig> LoadClientConfig(const std::string& path);

// Which of the two a config file is: a [client] table makes it a client config (`nodegate call`,
// `nodegate doctor`), anything else a node config. Errors: the file cannot be read or is not TOML.
enum class ConfigKind { kNode, kClient };
absl::StatusOr<ConfigKind> ConfigFileKind(const std::string& path);
absl::StatusOr<ClientConfig> ParseClientConfig(std::string_view text, const std::string& path);

}  // namespace nodegate::server
