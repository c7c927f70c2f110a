#include "server/node.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/security/server_credentials.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/store_credential_source.h"
#include "base/files.h"
#include "crypto/key.h"
#include "crypto/signer_factory.h"
#include "http/console_server.h"
#include "http/gateway.h"
#include "http/https_server.h"
#include "http/xmlrpc_server.h"
#include "observe/access_log.h"
#include "observe/handshake_log.h"
#include "observe/metrics.h"
#include "observe/recent_lines.h"
#include "pki/certificate_authority.h"
#include "rpc/grpc_log.h"
#include "rpc/server.h"
#include "server/credential_metrics.h"
#include "services/dice.h"
#include "services/health.h"
#include "services/identity.h"
#include "services/kv.h"
#include "services/port.h"
#include "services/reflection.h"
#include "services/registry.h"
#include "spdlog/spdlog.h"
#include "store/store_factory.h"
#include "tls/certificate_reloader.h"
#include "tls/server_credentials.h"
#include "tls/ssl_context.h"
#include "tunnel/tunnel_client.h"
#include "tunnel/tunnel_server.h"

namespace nodegate::server {

struct Node::Parts {
  std::string config_path;  // re-read by ReloadPolicy (SIGHUP)
  std::unique_ptr<tls::CertificateReloader> reloader;
  std::shared_ptr<observe::AccessLog> access_log;
  std::shared_ptr<observe::HandshakeLog> handshakes;  // refused TLS handshakes, every listener
  std::shared_ptr<observe::Metrics> metrics;
  std::shared_ptr<store::NodeStore> nodes;
  std::shared_ptr<store::CredentialStore> credential_store;
  std::shared_ptr<store::KvStore> kv;
  std::shared_ptr<store::LeaseStore> leases;
  std::unique_ptr<store::NonceStore> nonces;
  std::unique_ptr<auth::ReplayLedger> ledger;  // outlives the authorizer (declared before it)
  std::unique_ptr<auth::CredentialCache> credentials;
  std::shared_ptr<auth::Authorizer> authorizer;
  services::DiceService dice;
  std::unique_ptr<services::IdentityService> identity;
  std::unique_ptr<services::PortService> ports;
  std::unique_ptr<services::KeyValueService> kv_service;
  std::unique_ptr<services::RegistryService> registry;
  std::unique_ptr<services::HealthService> health;          // [grpc] health
  std::unique_ptr<services::ReflectionService> reflection;  // [grpc] reflection
  std::unique_ptr<tls::SslContextFollower> grpc_tls;        // engine h2: the gRPC listener's TLS
  std::unique_ptr<rpc::Server> server;                      // destroyed before everything above
  // [http]: the console's recent access-log lines, its gateway and HTTPS listener. The listener
  // is declared after the gRPC server so that it is destroyed first.
  std::shared_ptr<observe::RecentLines> recent;
  std::atomic<bool> serving{false};
  std::shared_ptr<http::Gateway> gateway;
  std::unique_ptr<http::ConsoleServer> console;
  // [xmlrpc] and [[tunnel]] (issue 5): declared last, so destroyed (stopped) first.
  std::unique_ptr<http::XmlRpcServer> xmlrpc;
  std::vector<std::unique_ptr<tunnel::TunnelServer>> tunnel_servers;
  std::vector<std::unique_ptr<tunnel::TunnelClient>> tunnel_clients;
};

// Every service this node registers, by full name (for the proto policy and `nodegate policy`).
const std::vector<std::string>& ServedServices() {
  static const std::vector<std::string> kServices = {"api.DiceService",
                                                     "nodegate.v1.Identity",
                                                     "nodegate.v1.NodeRegistry",
                                                     "nodegate.v1.PortService",
                                                     "nodegate.v1.KeyValue",
                                                     "grpc.health.v1.Health",
                                                     "grpc.reflection.v1alpha.ServerReflection"};
  return kServices;
}

std::vector<std::string> ServedMethods() {
  std::vector<std::string> methods;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : ServedServices()) {
    const google::protobuf::ServiceDescriptor* svc = pool->FindServiceByName(name);
    if (svc == nullptr) continue;
    for (int i = 0; i < svc->method_count(); ++i) {
      methods.push_back(absl::StrCat("/", svc->full_name(), "/", svc->method(i)->name()));
    }
  }
  return methods;
}

absl::StatusOr<std::shared_ptr<const auth::Policy>> BuildPolicy(const NodeConfig& config) {
  absl::StatusOr<std::vector<auth::Rule>> proto_rules =
      auth::RulesFromProtoOptions(ServedServices());
  if (!proto_rules.ok()) return proto_rules.status();
  absl::StatusOr<std::shared_ptr<const auth::Policy>> policy =
      auth::Policy::Build(config.auth.rules, *std::move(proto_rules));
  if (!policy.ok()) {
    return absl::Status(policy.status().code(),
                        absl::StrCat(config.path, ": auth.rule: ", policy.status().message()));
  }
  return policy;
}

namespace {

absl::StatusOr<std::unique_ptr<services::RegistryService>> NewRegistry(
    const NodeConfig& config, const tls::CredentialSet& tls_set,
    std::shared_ptr<store::NodeStore> nodes, std::shared_ptr<store::CredentialStore> credentials,
    auth::CredentialCache* cache) {
  services::RegistryOptions o;
  o.node_id = config.node.id;
  o.trust_domain = config.node.trust_domain;
  o.ca_pem = tls_set.ca_pem;
  o.cert_days = config.registry.cert_days;
  o.key_grace = config.registry.key_grace;
  std::shared_ptr<const pki::CertificateAuthority> ca;
  if (!config.registry.ca_cert.empty()) {
    absl::StatusOr<std::string> cert = base::ReadFile(config.registry.ca_cert);
    if (!cert.ok())
      return absl::Status(cert.status().code(),
                          absl::StrCat("registry.ca_cert: ", cert.status().message()));
    absl::StatusOr<std::string> key = base::ReadFile(config.registry.ca_key);
    if (!key.ok())
      return absl::Status(key.status().code(),
                          absl::StrCat("registry.ca_key: ", key.status().message()));
    absl::StatusOr<std::unique_ptr<pki::CertificateAuthority>> loaded =
        pki::CertificateAuthority::Load(*cert, *key);
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat("registry.ca_cert/ca_key: ", loaded.status().message()));
    }
    ca = *std::move(loaded);
    if (o.ca_pem.empty()) o.ca_pem = *cert;
  }
  if (!config.node.signing_key.empty()) {
    absl::StatusOr<std::string> pem = base::ReadFile(config.node.signing_key);
    if (!pem.ok())
      return absl::Status(pem.status().code(),
                          absl::StrCat("node.signing_key: ", pem.status().message()));
    absl::StatusOr<crypto::Algorithm> alg = crypto::DetectAlgorithm(*pem);
    if (!alg.ok())
      return absl::InvalidArgumentError(absl::StrCat("node.signing_key: ", alg.status().message()));
    absl::StatusOr<std::string> pub = crypto::PublicKeyPemFromPrivate(*pem);
    if (!pub.ok())
      return absl::InvalidArgumentError(absl::StrCat("node.signing_key: ", pub.status().message()));
    o.own_algorithm = std::string(crypto::AlgorithmName(*alg));
    o.own_public_key_pem = *pub;
  }
  return std::make_unique<services::RegistryService>(std::move(o), std::move(nodes),
                                                     std::move(credentials), std::move(ca), cache);
}

void RegisterNodeMetrics(Node::Parts& p);
void RegisterEdgeMetrics(Node::Parts& p);

// [http]: the gateway over the node's parts, and its HTTPS listener.
absl::Status StartConsole(const NodeConfig& config, Node::Parts& p,
                          const std::vector<std::pair<std::string, std::string>>& listeners,
                          const std::string& grpc_address, std::string* http_address) {
  http::GatewayOptions g;
  g.node_id = config.node.id;
  tls::CertificateReloader* reloader = p.reloader.get();
  g.credentials = [reloader] { return reloader->current(); };
  // The console's own address is known once it is bound.
  auto bound = std::make_shared<std::vector<std::pair<std::string, std::string>>>(listeners);
  auto bound_mu = std::make_shared<std::mutex>();
  g.listeners = [bound, bound_mu] {
    std::lock_guard<std::mutex> lock(*bound_mu);
    return *bound;
  };
  g.authorizer = p.authorizer;
  http::SessionOptions sessions;
  sessions.max_sessions = static_cast<size_t>(config.http.max_sessions);
  sessions.idle_timeout = config.http.session_idle_timeout;
  sessions.max_lifetime = config.http.session_max_lifetime;
  absl::StatusOr<std::unique_ptr<http::SessionStore>> session_store =
      http::SessionStore::New(sessions);
  if (!session_store.ok()) return session_store.status();
  g.sessions = *std::move(session_store);
  g.services = ServedServices();
  g.nodes = p.nodes;
  g.kv = p.kv;
  g.metrics = p.metrics;
  g.recent = p.recent;
  g.access_log = p.access_log;
  // In-process: the gateway has already authorized the request as /api.DiceService/RollDie.
  g.roll_die = services::RollDieValue;
  Node::Parts* parts = &p;
  g.ready = [parts]() -> absl::Status {
    if (!parts->serving.load()) return absl::UnavailableError("gRPC server not serving");
    // Before the store probe: when both fail, the reason that refuses calls is the one to name.
    if (absl::Status fresh = parts->credentials->CheckFresh(); !fresh.ok()) return fresh;
    absl::StatusOr<bool> probe = parts->kv->Exists("nodegate/readyz");
    if (!probe.ok()) {
      return absl::UnavailableError(absl::StrCat("store: ", probe.status().message()));
    }
    return absl::OkStatus();
  };
  g.ready_details = [parts] { return CredentialReadyDetails(*parts->credentials); };
  absl::StatusOr<std::unique_ptr<http::Gateway>> gateway = http::Gateway::New(std::move(g));
  if (!gateway.ok()) return gateway.status();
  p.gateway = *std::move(gateway);

  http::ConsoleServerOptions o;
  o.listen = config.http.listen;
  o.client_auth = config.http.client_auth;
  o.credentials = [reloader] { return reloader->current(); };
  o.limits = config.http.limits;
  o.limits.max_body_bytes =
      static_cast<size_t>(config.kv.max_value_bytes) + config.kv.max_key_bytes + 65536;
  o.metrics = p.metrics;
  o.handshake_log = p.handshakes;
  absl::StatusOr<std::unique_ptr<http::ConsoleServer>> console =
      http::ConsoleServer::Start(o, p.gateway);
  if (!console.ok()) return console.status();
  p.console = *std::move(console);
  *http_address = p.console->address();
  {
    std::lock_guard<std::mutex> lock(*bound_mu);
    bound->emplace_back("https console", *http_address);
  }
  return absl::OkStatus();
}

// [xmlrpc] and [[tunnel]] (issue 5): the XML-RPC KeyValue endpoint on the node's reloaded
// certificate and store, and the configured TLS proxies. Each prints its "listening" line.
absl::Status StartXmlRpcAndTunnels(const NodeConfig& config, Node::Parts& p,
                                   std::string* xmlrpc_address) {
  if (!config.xmlrpc.listen.empty()) {
    http::XmlRpcServerOptions o;
    o.listen = config.xmlrpc.listen;
    o.client_auth = config.xmlrpc.client_auth;
    tls::CertificateReloader* reloader = p.reloader.get();
    o.credentials = [reloader] { return reloader->current(); };
    o.max_request_bytes = static_cast<size_t>(config.xmlrpc.max_request_bytes);
    o.read_timeout = config.xmlrpc.read_timeout;
    o.limits = config.xmlrpc.limits;
    o.authorizer = p.authorizer;  // default deny and [[auth.rule]] apply, as on gRPC
    o.access_log = p.access_log;
    o.metrics = p.metrics;
    o.handshake_log = p.handshakes;
    absl::StatusOr<std::unique_ptr<http::XmlRpcServer>> server = http::XmlRpcServer::Start(o, p.kv);
    if (!server.ok()) return server.status();
    p.xmlrpc = *std::move(server);
    *xmlrpc_address = p.xmlrpc->address();
    spdlog::info("node {} listening xmlrpc={} (XML-RPC KeyValue over HTTPS, client_auth={})",
                 config.node.id, *xmlrpc_address,
                 std::string(tls::ClientAuthName(config.xmlrpc.client_auth)));
  }
  for (const NodeConfig::Tunnel& t : config.tunnels) {
    std::string address;
    if (t.client) {
      absl::StatusOr<std::unique_ptr<tunnel::TunnelClient>> c =
          tunnel::TunnelClient::Start(t.options);
      if (!c.ok()) return c.status();
      address = (*c)->address();
      p.tunnel_clients.push_back(*std::move(c));
    } else {
      absl::StatusOr<std::unique_ptr<tunnel::TunnelServer>> s =
          tunnel::TunnelServer::Start(t.options);
      if (!s.ok()) return s.status();
      address = (*s)->address();
      p.tunnel_servers.push_back(*std::move(s));
    }
    spdlog::info("node {} listening {}={} target={}", config.node.id, t.options.name, address,
                 t.options.target);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Node>> Node::Create(const NodeConfig& config) {
  rpc::RouteGrpcLogs();  // before gRPC starts: its lines go through our log, rate-limited
  std::unique_ptr<Node> node(new Node());
  node->parts_ = std::make_unique<Parts>();
  Parts& p = *node->parts_;
  p.config_path = config.path;

  if (absl::Status s = base::MakeDirs(config.node.data_dir, 0700); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("node.data_dir: ", s.message()));
  }
  if (!config.http.listen.empty()) {
    p.recent =
        std::make_shared<observe::RecentLines>(static_cast<size_t>(config.http.access_log_lines));
  }
  tls::CertificateReloader::Options reload;
  reload.files = config.tls.files;
  reload.live_dir = config.node.data_dir + "/tls-live";
  reload.interval = config.tls.reload_interval;
  for (const std::string* listen :
       {&config.grpc.listen, &config.http.listen, &config.xmlrpc.listen}) {
    absl::StatusOr<std::pair<std::string, int>> hp = http::SplitHostPort(*listen, "listen");
    if (hp.ok() && std::find(reload.listen_hosts.begin(), reload.listen_hosts.end(), hp->first) ==
                       reload.listen_hosts.end()) {
      reload.listen_hosts.push_back(hp->first);
    }
  }
  absl::StatusOr<std::unique_ptr<tls::CertificateReloader>> reloader =
      tls::CertificateReloader::Start(reload);
  if (!reloader.ok()) return reloader.status();
  p.reloader = *std::move(reloader);

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
      tls::NewServerCredentials(*p.reloader, config.tls.client_auth);
  if (!creds.ok()) return creds.status();

  absl::StatusOr<std::shared_ptr<observe::AccessLog>> access_log =
      observe::AccessLog::Open(config.log.access_log, p.recent);
  if (!access_log.ok()) return access_log.status();
  p.access_log = *std::move(access_log);
  p.handshakes = std::make_shared<observe::HandshakeLog>(p.access_log);
  rpc::SetGrpcHandshakeLog(p.handshakes);
  std::vector<std::string> measured = ServedMethods();
  measured.push_back(http::kXmlRpcMethod);
  p.metrics = std::make_shared<observe::Metrics>(measured);

  store::KvLimits kv_limits{config.kv.max_key_bytes, config.kv.max_value_bytes,
                            config.kv.max_total_bytes, config.kv.max_keys};
  // The factory's errors already name the field (store.path or store.url).
  absl::StatusOr<store::Stores> stores = store::OpenStores(config.store, kv_limits);
  if (!stores.ok()) return stores.status();
  p.nodes = std::move(stores->nodes);
  p.credential_store = std::move(stores->credentials);
  p.kv = std::move(stores->kv);
  p.leases = std::move(stores->leases);
  p.nonces = std::move(stores->nonces);
  absl::StatusOr<std::unique_ptr<auth::CredentialCache>> credentials = auth::CredentialCache::Start(
      std::make_shared<auth::StoreCredentialSource>(p.nodes, p.credential_store),
      config.auth.credentials_poll, base::Clock::Real(), config.auth.credential_max_age);
  if (!credentials.ok()) return credentials.status();
  p.credentials = *std::move(credentials);
  absl::StatusOr<std::shared_ptr<const auth::Policy>> policy = BuildPolicy(config);
  if (!policy.ok()) return policy.status();
  auth::AuthorizerOptions auth_options;
  auth_options.audience = config.node.id;
  auth_options.trust_domain = config.node.trust_domain;
  auth_options.enabled = config.auth.authenticators;
  auth_options.mtls_require_registered = config.auth.mtls_require_registered;
  auth_options.max_skew = config.auth.max_skew;
  auth_options.replay_cache_capacity = config.auth.replay_cache_capacity;
  auth::ReplayLedger::Options ledger_options;
  ledger_options.margin = config.auth.restart_margin;
  // Replicas on one PostgreSQL database share a nonce ledger (a replay accepted by one replica is
  // refused by all); a SQLite store belongs to this process alone.
  ledger_options.shared = config.store.backend == store::StoreConfig::Backend::kPostgres;
  absl::StatusOr<std::unique_ptr<auth::ReplayLedger>> ledger =
      auth::ReplayLedger::Open(p.nonces.get(), ledger_options, absl::Now());
  if (!ledger.ok()) return ledger.status();
  p.ledger = *std::move(ledger);
  auth_options.ledger = p.ledger.get();
  auth_options.forwarded.enabled = config.auth.forwarded.enabled;
  auth_options.forwarded.header = config.auth.forwarded.header;
  auth_options.forwarded.trusted_proxies = config.auth.forwarded.trusted_proxies;
  auth_options.forwarded.trust_local = config.auth.forwarded.trust_local;
  tls::CertificateReloader* reloader_ptr = p.reloader.get();
  auth_options.forwarded.trust = [reloader_ptr] { return reloader_ptr->current(); };
  absl::StatusOr<std::unique_ptr<auth::Authorizer>> authorizer =
      auth::Authorizer::New(auth_options, *policy, p.credentials.get());
  if (!authorizer.ok()) return authorizer.status();
  p.authorizer = *std::move(authorizer);
  p.identity = std::make_unique<services::IdentityService>(config.node.id);
  p.ports = std::make_unique<services::PortService>(
      p.leases, services::PortRange{config.ports.first, config.ports.last, config.ports.lease_ttl});
  p.kv_service = std::make_unique<services::KeyValueService>(p.kv);
  absl::StatusOr<std::unique_ptr<services::RegistryService>> registry =
      NewRegistry(config, *p.reloader->current(), p.nodes, p.credential_store, p.credentials.get());
  if (!registry.ok()) return registry.status();
  p.registry = *std::move(registry);

  // Every method goes through one table and one server core, which authorizes each call before
  // its handler (design §7). Health and reflection are served there too, so that no method
  // bypasses the Authorizer.
  auto table = std::make_shared<rpc::MethodTable>();
  p.dice.Register(*table);
  p.identity->Register(*table);
  p.ports->Register(*table);
  p.kv_service->Register(*table);
  p.registry->Register(*table);
  if (config.grpc.health) {
    p.health = std::make_unique<services::HealthService>(ServedServices());
    p.health->Register(*table);
  }
  if (config.grpc.reflection) {
    std::vector<std::string> listed;
    for (const std::string& name : ServedServices()) {
      if ((name != "grpc.health.v1.Health" || config.grpc.health)) listed.push_back(name);
    }
    p.reflection = std::make_unique<services::ReflectionService>(std::move(listed));
    p.reflection->Register(*table);
  }
  rpc::ServerOptions server_options;
  server_options.engine = config.grpc.engine;
  server_options.max_receive_message_bytes =
      static_cast<size_t>(config.grpc.max_receive_message_bytes);
  server_options.listeners.push_back({config.grpc.listen, *creds, p.handshakes, "grpc", {}});
  if (config.grpc.engine == rpc::Engine::kH2) {
    // The h2 engine's TLS: a context that follows the same validated, reloaded set as gRPC's.
    absl::StatusOr<std::unique_ptr<tls::SslContextFollower>> follower =
        tls::SslContextFollower::New([reloader = p.reloader.get()] { return reloader->current(); },
                                     config.tls.client_auth, "grpc");
    if (!follower.ok()) return follower.status();
    p.grpc_tls = *std::move(follower);
    server_options.listeners.back().tls_context = [f = p.grpc_tls.get()] { return f->context(); };
    server_options.max_header_list_bytes = static_cast<uint32_t>(config.grpc.max_header_list_bytes);
    server_options.stall_timeout = config.grpc.stall_timeout;
  }
  if (!config.grpc.local_listen.empty()) {
    // Local-TCP credentials: loopback peers only, and no client certificate (design §7).
    server_options.listeners.push_back({config.grpc.local_listen,
                                        grpc::experimental::LocalServerCredentials(LOCAL_TCP),
                                        /*plaintext_log=*/nullptr,
                                        "grpc-local",
                                        {}});
  }
  server_options.threads = config.grpc.threads;
  server_options.blocking_threads = config.grpc.blocking_threads;
  // The cap must sit below the descriptor limit, or EMFILE (not the cap) would be what refuses.
  const int fd_limit = rpc::RaiseDescriptorLimit();
  const int listeners = static_cast<int>(server_options.listeners.size());
  const int fit = std::max(1, (fd_limit - config.grpc.fd_headroom) / listeners);
  int max_connections = config.grpc.max_connections;
  if (max_connections > fit) {
    spdlog::warn(
        "grpc.max_connections: {} does not fit the open-file limit {} less grpc.fd_headroom "
        "(raise LimitNOFILE / ulimit -n); using {} per listener",
        max_connections, fd_limit, fit);
    max_connections = fit;
  }
  server_options.connection_limits.max_connections = max_connections;
  server_options.connection_limits.fd_headroom = config.grpc.fd_headroom;
  server_options.handshake_timeout = config.grpc.handshake_timeout;
  server_options.idle_timeout = config.grpc.idle_timeout;
  server_options.max_concurrent_streams = config.grpc.max_concurrent_streams;
  server_options.max_streams = config.grpc.max_streams;
  server_options.max_queued_blocking = config.grpc.max_queued_calls;
  server_options.anonymous_rate = config.grpc.anonymous_rate;
  RegisterNodeMetrics(p);
  absl::StatusOr<std::unique_ptr<rpc::Server>> server =
      rpc::Server::Start(std::move(server_options), table, p.authorizer,
                         p.access_log->enabled() ? p.access_log : nullptr, p.metrics);
  if (!server.ok()) {
    bool local = !config.grpc.local_listen.empty() &&
                 absl::StrContains(server.status().message(), config.grpc.local_listen);
    return absl::Status(
        server.status().code(),
        absl::StrCat(local ? "grpc.local_listen: " : "grpc.listen: ", server.status().message()));
  }
  p.server = *std::move(server);
  RegisterEdgeMetrics(p);
  int port = p.server->ports()[0];
  int local_port = config.grpc.local_listen.empty() ? 0 : p.server->ports()[1];
  if (p.health) p.health->SetServing(true);
  std::string host = config.grpc.listen.substr(0, config.grpc.listen.rfind(':'));
  node->grpc_address_ = absl::StrCat(host, ":", port);
  if (local_port != 0) {
    const std::string& l = config.grpc.local_listen;
    node->local_address_ = absl::StrCat(l.substr(0, l.rfind(':')), ":", local_port);
  }
  p.serving.store(true);
  if (!config.http.listen.empty()) {
    std::vector<std::pair<std::string, std::string>> listeners = {{"grpc", node->grpc_address_}};
    if (!node->local_address_.empty()) listeners.emplace_back("local (h2c)", node->local_address_);
    if (absl::Status s =
            StartConsole(config, p, listeners, node->grpc_address_, &node->http_address_);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = StartXmlRpcAndTunnels(config, p, &node->xmlrpc_address_); !s.ok()) {
    return s;  // issue 5
  }
  const auto& leaf = p.reloader->current()->leaf;
  spdlog::info("node {}: tls serial {} subject {} expires {}; client_auth={}; reload every {}",
               config.node.id, leaf.serial_hex, leaf.subject,
               absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", leaf.not_after, absl::UTCTimeZone()),
               std::string(tls::ClientAuthName(config.tls.client_auth)),
               absl::FormatDuration(config.tls.reload_interval));
  return node;
}

namespace {

// What the gRPC edge refused or shed (design §8: every trip is counted).
void RegisterEdgeMetrics(Node::Parts& p) {
  using Sample = observe::Metrics::Sample;
  rpc::Server* server = p.server.get();
  p.metrics->AddCallback(
      "nodegate_grpc_connections", "gRPC connections open (all listeners).", "gauge", [server] {
        return std::vector<Sample>{{"", static_cast<double>(server->stats().connections.open)}};
      });
  p.metrics->AddCallback("nodegate_grpc_streams", "Streaming calls open.", "gauge", [server] {
    return std::vector<Sample>{{"", static_cast<double>(server->stats().streams_open)}};
  });
  p.metrics->AddCallback(
      "nodegate_grpc_shed_total", "Connections and calls the gRPC edge refused, by limit.",
      "counter", [server] {
        rpc::ServerStats s = server->stats();
        return std::vector<Sample>{
            {"limit=\"max_connections\"",
             static_cast<double>(s.connections.refused_connection_limit)},
            {"limit=\"fd_headroom\"", static_cast<double>(s.connections.refused_fd_headroom)},
            {"limit=\"max_streams\"", static_cast<double>(s.refused_streams)},
            {"limit=\"max_queued_calls\"", static_cast<double>(s.refused_queue_full)},
            {"limit=\"deadline_in_queue\"", static_cast<double>(s.skipped_expired)},
            {"limit=\"anonymous_rate\"", static_cast<double>(s.refused_anonymous_rate)}};
      });
  observe::AccessLog* log = p.access_log.get();
  p.metrics->AddCallback("nodegate_access_log_dropped_total",
                         "Access-log lines dropped because the destination could not keep up.",
                         "counter", [log] {
                           return std::vector<Sample>{{"", static_cast<double>(log->dropped())}};
                         });
  p.metrics->AddCallback(
      "nodegate_grpc_handshake_failures_total", "TLS handshakes refused on the gRPC listeners.",
      "counter", [] {
        return std::vector<Sample>{{"", static_cast<double>(rpc::HandshakeFailures())}};
      });
  observe::HandshakeLog* handshakes = p.handshakes.get();
  p.metrics->AddCallback(
      "nodegate_tls_handshake_failures_total",
      "TLS handshakes refused, by listener (grpc, http, xmlrpc) and reason (revoked, unknown_ca, "
      "expired, no_client_certificate, no_client_auth_usage, plaintext, …).",
      "counter", [handshakes] {
        std::vector<Sample> out;
        for (const auto& [key, n] : handshakes->Counts()) {
          out.push_back({absl::StrCat("listener=\"", key.first, "\",reason=\"", key.second, "\""),
                         static_cast<double>(n)});
        }
        return out;
      });
  p.metrics->AddCallback(
      "nodegate_grpc_log_suppressed_total",
      "gRPC log lines held back by the per-site rate limit (1/s).", "counter", [] {
        return std::vector<Sample>{{"", static_cast<double>(rpc::SuppressedGrpcLogLines())}};
      });
}

void RegisterNodeMetrics(Node::Parts& p) {
  using Sample = observe::Metrics::Sample;
  auth::Authorizer* authorizer = p.authorizer.get();
  tls::CertificateReloader* reloader = p.reloader.get();
  p.metrics->AddCallback(
      "nodegate_auth_rejections_total", "Calls refused by authorization, by reason.", "counter",
      [authorizer] {
        std::vector<Sample> out;
        for (int r = 0; r < static_cast<int>(auth::Rejection::kCount); ++r) {
          auto reason = static_cast<auth::Rejection>(r);
          out.push_back({absl::StrCat("reason=\"", std::string(auth::RejectionName(reason)), "\""),
                         static_cast<double>(authorizer->rejections(reason))});
        }
        return out;
      });
  p.metrics->AddCallback(
      "nodegate_auth_forwarded_ignored_total",
      "Forwarded client-cert headers ignored (peer not a trusted proxy).", "counter", [authorizer] {
        return std::vector<Sample>{{"", static_cast<double>(authorizer->forwarded_ignored())}};
      });
  RegisterCredentialMetrics(*p.metrics, p.credentials.get());
  p.metrics->AddCallback(
      "nodegate_replay_cache_entries", "Nonces remembered by the signature replay cache.", "gauge",
      [authorizer] {
        return std::vector<Sample>{{"", static_cast<double>(authorizer->replay_cache_size())}};
      });
  auth::ReplayLedger* ledger = p.ledger.get();
  p.metrics->AddCallback(
      "nodegate_replay_ledger_batches_total",
      "Nonce batches written to the store (a fleet writes every accepted nonce), by result.",
      "counter", [ledger] {
        const auth::ReplayLedger::Stats s = ledger->stats();
        return std::vector<Sample>{{"result=\"ok\"", static_cast<double>(s.batches - s.failures)},
                                   {"result=\"failed\"", static_cast<double>(s.failures)}};
      });
  p.metrics->AddCallback(
      "nodegate_replay_ledger_nonces_total", "Nonces in the batches written to the store.",
      "counter", [ledger] {
        return std::vector<Sample>{{"", static_cast<double>(ledger->stats().records)}};
      });
  p.metrics->AddCallback(
      "nodegate_replay_ledger_waiting", "Signed calls waiting for the next nonce batch.", "gauge",
      [ledger] {
        return std::vector<Sample>{{"", static_cast<double>(ledger->stats().waiting)}};
      });
  p.metrics->AddCallback(
      "nodegate_tls_reloads_total", "TLS credential reloads by result.", "counter", [reloader] {
        return std::vector<Sample>{
            {"result=\"ok\"", static_cast<double>(reloader->reloads_ok())},
            {"result=\"failed\"", static_cast<double>(reloader->reloads_failed())}};
      });
  p.metrics->AddCallback(
      "nodegate_tls_cert_expiry_seconds", "Seconds until the served certificate expires.", "gauge",
      [reloader] {
        return std::vector<Sample>{
            {"", absl::ToDoubleSeconds(reloader->current()->leaf.not_after - absl::Now())}};
      });
  p.metrics->AddCallback("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
                         [] {
                           return std::vector<Sample>{{"", observe::ProcessRssBytes()}};
                         });
  p.metrics->AddCallback("process_cpu_seconds_total", "User and system CPU time in seconds.",
                         "counter", [] {
                           return std::vector<Sample>{{"", observe::ProcessCpuSeconds()}};
                         });
}

}  // namespace

std::shared_ptr<observe::Metrics> Node::metrics() const { return parts_->metrics; }

Node::~Node() {
  if (parts_ && parts_->server) Shutdown(absl::ZeroDuration());
}

absl::Status Node::Reload() {
  // Tunnels poll their files too; SIGHUP makes them look now (issue 5).
  for (auto& t : parts_->tunnel_servers) (void)t->Reload();
  for (auto& t : parts_->tunnel_clients) (void)t->Reload();
  absl::Status tls = parts_->reloader->CheckNow();
  absl::Status policy = ReloadPolicy();
  if (tls.ok()) return policy;
  if (policy.ok()) return tls;
  return absl::Status(tls.code(), absl::StrCat(tls.message(), "; ", policy.message()));
}

absl::Status Node::ReloadPolicy() {
  Parts& p = *parts_;
  if (p.config_path.empty()) return absl::OkStatus();  // created from a config without a file
  // The whole file is validated as at start-up, so a typo anywhere (not only in a rule) is caught
  // now rather than at the next restart; only the rules are taken from it.
  absl::StatusOr<NodeConfig> config = LoadNodeConfig(p.config_path);
  absl::StatusOr<std::shared_ptr<const auth::Policy>> policy =
      config.ok() ? BuildPolicy(*config) : config.status();
  if (!policy.ok()) {
    return absl::Status(policy.status().code(),
                        absl::StrCat("policy not reloaded, the previous rules stay in force: ",
                                     policy.status().message()));
  }
  p.authorizer->SetPolicy(*std::move(policy));
  spdlog::info("policy reloaded from {} ({} config rule(s))", p.config_path,
               config->auth.rules.size());
  return absl::OkStatus();
}

void Node::Shutdown(absl::Duration grace) {
  Parts& p = *parts_;
  if (!p.server) return;
  p.serving.store(false);              // /readyz answers 503 while draining
  if (p.health) p.health->Shutdown();  // watchers hear NOT_SERVING and their streams end
  p.server->Shutdown(grace);
  if (p.xmlrpc) p.xmlrpc->Stop();  // issue 5: XML-RPC and tunnels stop with the node
  for (auto& t : p.tunnel_servers) t->Stop();
  for (auto& t : p.tunnel_clients) t->Stop();
  if (p.console) p.console->Stop();
  // Only now: a /metrics scrape still in flight on the console reads the server's counters
  // (RegisterEdgeMetrics holds a plain pointer). TSan saw one read a listener being freed.
  p.server.reset();
  if (p.access_log) p.access_log->Flush();
}

}  // namespace nodegate::server
