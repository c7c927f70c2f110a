#include "server/config.h"

#include <toml++/toml.h>

#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/files.h"

namespace nodegate::server {
namespace {

// Walks one TOML table, reading known keys and reporting unknown ones, with "table.key" names.
class Section {
 public:
  Section(const toml::table* table, std::string name, const std::string& file)
      : table_(table), name_(std::move(name)), file_(file) {}

  absl::Status String(const char* key, std::string* out) {
    seen_.insert(key);
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    if (!n->is_string()) return TypeError(key, "a string");
    *out = n->as_string()->get();
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool* out) {
    seen_.insert(key);
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    if (!n->is_boolean()) return TypeError(key, "true or false");
    *out = n->as_boolean()->get();
    return absl::OkStatus();
  }

  absl::Status StringList(const char* key, std::vector<std::string>* out) {
    seen_.insert(key);
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    const toml::array* arr = n->as_array();
    if (arr == nullptr) return TypeError(key, "an array of strings");
    out->clear();
    for (const toml::node& e : *arr) {
      if (!e.is_string()) return TypeError(key, "an array of strings");
      out->push_back(e.as_string()->get());
    }
    return absl::OkStatus();
  }

  absl::Status Int(const char* key, int64_t* out) {
    seen_.insert(key);
    const toml::node* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    if (!n->is_integer()) return TypeError(key, "an integer");
    *out = n->as_integer()->get();
    return absl::OkStatus();
  }

  // Marks a key as handled by the caller (sub-tables, arrays of tables).
  void Known(const char* key) { seen_.insert(key); }

  // Durations are strings such as "500ms", "10s", "1h" (absl::ParseDuration syntax).
  absl::Status Duration(const char* key, absl::Duration* out) {
    std::string text;
    if (absl::Status s = String(key, &text); !s.ok()) return s;
    if (Find(key) == nullptr) return absl::OkStatus();
    absl::Duration d;
    if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_, ": ", Field(key), ": '", text,
                       "' is not a duration such as \"500ms\" or \"10s\""));
    }
    *out = d;
    return absl::OkStatus();
  }

  // Call after reading every known key.
  absl::Status RejectUnknown() const {
    if (table_ == nullptr) return absl::OkStatus();
    for (const auto& [k, v] : *table_) {
      std::string key(k.str());
      if (!seen_.contains(key)) {
        return absl::InvalidArgumentError(absl::StrCat(file_, ": unknown key ", Field(key.c_str()),
                                                       " (known: ", absl::StrJoin(seen_, ", "),
                                                       ")"));
      }
    }
    return absl::OkStatus();
  }

  std::string Field(const char* key) const { return absl::StrCat(name_, ".", key); }

 private:
  const toml::node* Find(const char* key) const {
    return table_ == nullptr ? nullptr : table_->get(key);
  }
  absl::Status TypeError(const char* key, const char* expected) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": ", Field(key), ": expected ", expected));
  }

  const toml::table* table_;
  std::string name_;
  const std::string& file_;
  std::set<std::string> seen_;
};

absl::StatusOr<toml::table> ParseToml(std::string_view text, const std::string& path) {
  try {  // toml++ reports syntax errors by exception; they stop here.
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", where.line, ":", where.column, ": ", std::string(e.description())));
  }
}

absl::Status CheckTables(const toml::table& root, const std::set<std::string>& known,
                         const std::string& path) {
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (!known.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": unknown section or key '", key, "' (known: ", absl::StrJoin(known, ", "), ")"));
    }
    if (key == "tunnel") {  // [[tunnel]]: an array of tables
      if (!v.is_array_of_tables()) {
        return absl::InvalidArgumentError(path + ": 'tunnel' must be [[tunnel]] tables");
      }
      continue;
    }
    if (!v.is_table()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": '", key, "' must be a [", key, "] table"));
    }
  }
  return absl::OkStatus();
}

std::string BaseDir(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

#define NG_RETURN_IF_ERROR(expr) \
  do {                           \
    absl::Status _s = (expr);    \
    if (!_s.ok()) return _s;     \
  } while (0)

absl::Status ParseAuth(const toml::table* table, const std::string& path, NodeConfig::Auth* a) {
  Section auth(table, "auth", path);
  std::vector<std::string> names = auth::AuthenticatorList(a->authenticators);
  NG_RETURN_IF_ERROR(auth.StringList("authenticators", &names));
  a->authenticators = 0;
  for (const std::string& n : names) {
    absl::StatusOr<uint32_t> bit = auth::ParseAuthenticator(n);
    if (!bit.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": auth.authenticators: ", bit.status().message()));
    }
    a->authenticators |= *bit;
  }
  NG_RETURN_IF_ERROR(auth.Bool("mtls_require_registered", &a->mtls_require_registered));
  NG_RETURN_IF_ERROR(auth.Duration("credentials_poll", &a->credentials_poll));
  if (a->credentials_poll < absl::Milliseconds(50)) {
    return absl::InvalidArgumentError(path + ": auth.credentials_poll: must be at least 50ms");
  }
  NG_RETURN_IF_ERROR(auth.Duration("credential_max_age", &a->credential_max_age));
  // A healthy poll confirms the snapshot every credentials_poll; a bound at or below that would
  // refuse calls between two good polls.
  if (a->credential_max_age < 2 * a->credentials_poll) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": auth.credential_max_age: must be at least twice auth.credentials_poll (",
        absl::FormatDuration(2 * a->credentials_poll), ")"));
  }
  auth.Known("signature");
  auth.Known("rule");
  auth.Known("forwarded");
  NG_RETURN_IF_ERROR(auth.RejectUnknown());

  const toml::node* sig_node = table ? table->get("signature") : nullptr;
  if (sig_node != nullptr && !sig_node->is_table()) {
    return absl::InvalidArgumentError(path + ": auth.signature: must be a table");
  }
  Section sig(sig_node ? sig_node->as_table() : nullptr, "auth.signature", path);
  NG_RETURN_IF_ERROR(sig.Duration("max_skew", &a->max_skew));
  NG_RETURN_IF_ERROR(sig.Duration("restart_margin", &a->restart_margin));
  int64_t capacity = static_cast<int64_t>(a->replay_cache_capacity);
  NG_RETURN_IF_ERROR(sig.Int("replay_cache_capacity", &capacity));
  NG_RETURN_IF_ERROR(sig.RejectUnknown());
  if (a->max_skew <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(path + ": auth.signature.max_skew: must be positive");
  }
  if (a->restart_margin > a->max_skew) {
    return absl::InvalidArgumentError(
        path + ": auth.signature.restart_margin: must not exceed auth.signature.max_skew");
  }
  if (capacity <= 0 || capacity > 100'000'000) {
    return absl::InvalidArgumentError(
        path + ": auth.signature.replay_cache_capacity: must be in 1..100000000");
  }
  a->replay_cache_capacity = static_cast<size_t>(capacity);

  const toml::node* fwd_node = table ? table->get("forwarded") : nullptr;
  if (fwd_node != nullptr && !fwd_node->is_table()) {
    return absl::InvalidArgumentError(path + ": auth.forwarded: must be a table");
  }
  Section fwd(fwd_node ? fwd_node->as_table() : nullptr, "auth.forwarded", path);
  NG_RETURN_IF_ERROR(fwd.Bool("enabled", &a->forwarded.enabled));
  NG_RETURN_IF_ERROR(fwd.String("header", &a->forwarded.header));
  NG_RETURN_IF_ERROR(fwd.StringList("trusted_proxies", &a->forwarded.trusted_proxies));
  NG_RETURN_IF_ERROR(fwd.Bool("trust_local", &a->forwarded.trust_local));
  NG_RETURN_IF_ERROR(fwd.RejectUnknown());
  const std::string& h = a->forwarded.header;
  if (h.empty() ||
      h.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
    return absl::InvalidArgumentError(
        path + ": auth.forwarded.header: lower-case letters, digits and '-' only");
  }

  const toml::node* rules = table ? table->get("rule") : nullptr;
  if (rules == nullptr) return absl::OkStatus();
  if (!rules->is_array_of_tables()) {
    return absl::InvalidArgumentError(path + ": auth.rule: must be [[auth.rule]] tables");
  }
  int index = 0;
  for (const toml::node& n : *rules->as_array()) {
    std::string name = absl::StrCat("auth.rule[", index++, "]");
    Section r(n.as_table(), name, path);
    auth::Rule rule;
    std::vector<std::string> authn;
    NG_RETURN_IF_ERROR(r.String("method", &rule.pattern));
    NG_RETURN_IF_ERROR(r.Bool("public", &rule.is_public));
    NG_RETURN_IF_ERROR(r.StringList("authenticators", &authn));
    NG_RETURN_IF_ERROR(r.StringList("roles", &rule.roles));
    NG_RETURN_IF_ERROR(r.RejectUnknown());
    if (rule.pattern.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, ".method: required"));
    }
    for (const std::string& x : authn) {
      absl::StatusOr<uint32_t> bit = auth::ParseAuthenticator(x);
      if (!bit.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": ", name, ".authenticators: ", bit.status().message()));
      }
      rule.authenticators |= *bit;
    }
    if (absl::Status s = auth::ValidateRule(rule); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, ": ", s.message()));
    }
    a->rules.push_back(std::move(rule));
  }
  return absl::OkStatus();
}

// ---- the HTTPS edge limits, the same keys under [http] and [xmlrpc] -----------------------------
absl::Status ParseHttpsLimits(Section& t, const std::string& section, const std::string& path,
                              bool request_timeout, http::HttpsLimits* l) {
  int64_t max_connections = static_cast<int64_t>(l->max_connections);
  int64_t max_header_bytes = static_cast<int64_t>(l->max_header_bytes);
  int64_t workers = l->workers;
  int64_t queue_depth = static_cast<int64_t>(l->queue_depth);
  NG_RETURN_IF_ERROR(t.Int("max_connections", &max_connections));
  NG_RETURN_IF_ERROR(t.Duration("handshake_timeout", &l->handshake_timeout));
  NG_RETURN_IF_ERROR(t.Duration("header_timeout", &l->header_timeout));
  if (request_timeout) NG_RETURN_IF_ERROR(t.Duration("request_timeout", &l->request_timeout));
  NG_RETURN_IF_ERROR(t.Duration("idle_timeout", &l->idle_timeout));
  NG_RETURN_IF_ERROR(t.Duration("write_timeout", &l->write_timeout));
  NG_RETURN_IF_ERROR(t.Int("max_header_bytes", &max_header_bytes));
  NG_RETURN_IF_ERROR(t.Int("workers", &workers));
  NG_RETURN_IF_ERROR(t.Int("queue_depth", &queue_depth));
  auto range = [&](const char* key, int64_t v, int64_t lo, int64_t hi) -> absl::Status {
    if (v >= lo && v <= hi) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", section, ".", key, ": must be in ", lo, "..", hi));
  };
  NG_RETURN_IF_ERROR(range("max_connections", max_connections, 1, 1000000));
  NG_RETURN_IF_ERROR(range("max_header_bytes", max_header_bytes, 1024, 1 << 20));
  NG_RETURN_IF_ERROR(range("workers", workers, 1, 64));
  NG_RETURN_IF_ERROR(range("queue_depth", queue_depth, 1, 100000));
  for (const auto& [key, d] :
       {std::pair<const char*, absl::Duration>{"handshake_timeout", l->handshake_timeout},
        {"header_timeout", l->header_timeout},
        {"request_timeout", l->request_timeout},
        {"idle_timeout", l->idle_timeout},
        {"write_timeout", l->write_timeout}}) {
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", section, ".", key, ": must be positive"));
    }
  }
  l->max_connections = static_cast<size_t>(max_connections);
  l->max_header_bytes = static_cast<size_t>(max_header_bytes);
  l->workers = static_cast<int>(workers);
  l->queue_depth = static_cast<size_t>(queue_depth);
  return absl::OkStatus();
}

// ---- issue 5: [xmlrpc] and [[tunnel]] ----------------------------------------------------------
absl::Status ParseXmlRpc(const toml::table* table, const std::string& path, NodeConfig* c) {
  Section x(table, "xmlrpc", path);
  std::string client_auth(tls::ClientAuthName(c->xmlrpc.client_auth));
  NG_RETURN_IF_ERROR(x.String("listen", &c->xmlrpc.listen));
  NG_RETURN_IF_ERROR(x.String("client_auth", &client_auth));
  NG_RETURN_IF_ERROR(x.Int("max_request_bytes", &c->xmlrpc.max_request_bytes));
  NG_RETURN_IF_ERROR(x.Duration("read_timeout", &c->xmlrpc.read_timeout));
  NG_RETURN_IF_ERROR(
      ParseHttpsLimits(x, "xmlrpc", path, /*request_timeout=*/false, &c->xmlrpc.limits));
  NG_RETURN_IF_ERROR(x.RejectUnknown());
  absl::StatusOr<tls::ClientAuth> mode = tls::ParseClientAuth(client_auth);
  if (!mode.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": xmlrpc.client_auth: '", client_auth,
                                                   "' is not one of require, request, none"));
  }
  c->xmlrpc.client_auth = *mode;
  if (!c->xmlrpc.listen.empty() && c->xmlrpc.listen.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": xmlrpc.listen: '", c->xmlrpc.listen, "' is not host:port"));
  }
  if (!c->xmlrpc.listen.empty() && c->xmlrpc.client_auth != tls::ClientAuth::kNone &&
      c->tls.files.ca.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": xmlrpc.client_auth: needs tls.ca to verify client certificates (or \"none\")"));
  }
  if (c->xmlrpc.max_request_bytes < 1024 || c->xmlrpc.max_request_bytes > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(path + ": xmlrpc.max_request_bytes: must be in 1024..2^30");
  }
  if (c->xmlrpc.read_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(path + ": xmlrpc.read_timeout: must be positive");
  }
  return absl::OkStatus();
}

absl::Status ParseTunnels(const toml::node* node, const std::string& path, NodeConfig* c) {
  if (node == nullptr) return absl::OkStatus();
  const std::string base = BaseDir(path);
  int index = 0;
  for (const toml::node& n : *node->as_array()) {
    std::string name = absl::StrCat("tunnel[", index++, "]");
    Section t(n.as_table(), name, path);
    NodeConfig::Tunnel tunnel;
    tunnel::TunnelOptions& o = tunnel.options;
    std::string mode, client_auth = "require";
    std::string tunnel_name;
    o.files = c->tls.files;  // default: the node's own certificate, key, CA and CRL
    o.reload_interval = c->tls.reload_interval;
    o.trust_domain = c->node.trust_domain;
    int64_t max_connections = o.max_connections;
    NG_RETURN_IF_ERROR(t.String("name", &tunnel_name));
    NG_RETURN_IF_ERROR(t.String("mode", &mode));
    NG_RETURN_IF_ERROR(t.String("listen", &o.listen));
    NG_RETURN_IF_ERROR(t.String("target", &o.target));
    NG_RETURN_IF_ERROR(t.String("cert", &o.files.cert));
    NG_RETURN_IF_ERROR(t.String("key", &o.files.key));
    NG_RETURN_IF_ERROR(t.String("ca", &o.files.ca));
    NG_RETURN_IF_ERROR(t.String("crl", &o.files.crl));
    NG_RETURN_IF_ERROR(t.String("client_auth", &client_auth));
    NG_RETURN_IF_ERROR(t.String("server_name", &o.server_name));
    NG_RETURN_IF_ERROR(t.Duration("idle_timeout", &o.idle_timeout));
    NG_RETURN_IF_ERROR(t.Duration("handshake_timeout", &o.handshake_timeout));
    NG_RETURN_IF_ERROR(t.Duration("reload_interval", &o.reload_interval));
    NG_RETURN_IF_ERROR(t.Int("max_connections", &max_connections));
    const toml::table* table = n.as_table();
    for (auto [key, list] : {std::pair{"allow_cn", &o.allow.cns},
                             {"allow_node_id", &o.allow.node_ids},
                             {"allow_uri", &o.allow.uris}}) {
      NG_RETURN_IF_ERROR(t.StringList(key, list));
      // Absent = no list; an explicitly empty list is refused rather than guessed at (it could
      // be read as "nobody" or as "anybody").
      if (table->get(key) != nullptr && list->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": ", name, ".", key,
                         ": an empty list is not allowed (omit the key; allow_all = true lets "
                         "every certificate from the CA pass)"));
      }
    }
    NG_RETURN_IF_ERROR(t.Bool("allow_all", &o.allow.all));
    NG_RETURN_IF_ERROR(t.RejectUnknown());
    if (mode != "server" && mode != "client") {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", name, ".mode: must be \"server\" or \"client\""));
    }
    tunnel.client = mode == "client";
    for (auto [value, key] : {std::pair{&o.listen, "listen"}, {&o.target, "target"}}) {
      if (value->empty() || value->rfind(':') == std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": ", name, ".", key, ": required, host:port"));
      }
    }
    absl::StatusOr<tls::ClientAuth> auth = tls::ParseClientAuth(client_auth);
    if (!auth.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, ".client_auth: '",
                                                     client_auth,
                                                     "' is not one of require, request, none"));
    }
    o.client_auth = *auth;
    if (tunnel.client &&
        (!o.allow.empty() || o.allow.all || table->get("client_auth") != nullptr)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": ", name, ": allow_* and client_auth apply to mode = \"server\" only"));
    }
    if (!tunnel.client) {
      if (absl::Status allow = tunnel::ValidateAllowList(o.allow); !allow.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, ": ", allow.message()));
      }
    }
    if (!tunnel.client && table->get("server_name") != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", name, ".server_name: applies to mode = \"client\" only"));
    }
    if (max_connections < 1 || max_connections > 1'000'000) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", name, ".max_connections: must be in 1..1000000"));
    }
    o.max_connections = static_cast<int>(max_connections);
    for (auto [d, key] :
         {std::pair{o.idle_timeout, "idle_timeout"}, {o.handshake_timeout, "handshake_timeout"}}) {
      if (d <= absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": ", name, ".", key, ": must be positive"));
      }
    }
    if (o.reload_interval < absl::Milliseconds(100)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", name, ".reload_interval: must be at least 100ms"));
    }
    for (std::string* p : {&o.files.cert, &o.files.key, &o.files.ca, &o.files.crl}) {
      *p = base::ResolvePath(base, *p);
    }
    if (o.files.ca.empty() && (tunnel.client || o.client_auth != tls::ClientAuth::kNone)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, ".ca: required"));
    }
    if (tunnel_name.empty()) tunnel_name = std::to_string(index - 1);
    o.name = absl::StrCat("tunnel[", tunnel_name, "] ", mode);
    c->tunnels.push_back(std::move(tunnel));
  }
  return absl::OkStatus();
}
// ---- end issue 5
// ---------------------------------------------------------------------------------

}  // namespace

absl::StatusOr<NodeConfig> LoadNodeConfig(const std::string& path) {
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("config: ", text.status().message()));
  }
  return ParseNodeConfig(*text, path);
}

absl::StatusOr<NodeConfig> ParseNodeConfig(std::string_view text, const std::string& path) {
  absl::StatusOr<toml::table> root = ParseToml(text, path);
  if (!root.ok()) return root.status();
  NG_RETURN_IF_ERROR(CheckTables(*root,
                                 {"node", "grpc", "tls", "log", "store", "auth", "ports", "kv",
                                  "registry", "xmlrpc", "tunnel", "http"},
                                 path));
  NodeConfig c;
  c.path = path;
  const std::string base = BaseDir(path);

  Section node(root->get_as<toml::table>("node"), "node", path);
  NG_RETURN_IF_ERROR(node.String("id", &c.node.id));
  NG_RETURN_IF_ERROR(node.String("data_dir", &c.node.data_dir));
  NG_RETURN_IF_ERROR(node.String("trust_domain", &c.node.trust_domain));
  NG_RETURN_IF_ERROR(node.String("signing_key", &c.node.signing_key));
  NG_RETURN_IF_ERROR(node.RejectUnknown());
  if (c.node.id.empty()) return absl::InvalidArgumentError(path + ": node.id: must not be empty");
  c.node.data_dir = base::ResolvePath(base, c.node.data_dir);
  c.node.signing_key = base::ResolvePath(base, c.node.signing_key);

  Section grpc(root->get_as<toml::table>("grpc"), "grpc", path);
  NG_RETURN_IF_ERROR(grpc.String("listen", &c.grpc.listen));
  NG_RETURN_IF_ERROR(grpc.String("local_listen", &c.grpc.local_listen));
  NG_RETURN_IF_ERROR(grpc.Duration("shutdown_grace", &c.grpc.shutdown_grace));
  NG_RETURN_IF_ERROR(grpc.Bool("reflection", &c.grpc.reflection));
  NG_RETURN_IF_ERROR(grpc.Bool("health", &c.grpc.health));
  int64_t threads = c.grpc.threads, blocking_threads = c.grpc.blocking_threads;
  NG_RETURN_IF_ERROR(grpc.Int("threads", &threads));
  NG_RETURN_IF_ERROR(grpc.Int("blocking_threads", &blocking_threads));
  NG_RETURN_IF_ERROR(grpc.Duration("handshake_timeout", &c.grpc.handshake_timeout));
  NG_RETURN_IF_ERROR(grpc.Duration("idle_timeout", &c.grpc.idle_timeout));
  std::string engine = "grpc";
  NG_RETURN_IF_ERROR(grpc.String("engine", &engine));
  if (engine == "h2") {
    c.grpc.engine = rpc::Engine::kH2;
  } else if (engine != "grpc") {
    return absl::InvalidArgumentError(absl::StrCat(path, ": grpc.engine: \"", engine,
                                                   "\" is not an engine (\"grpc\" or \"h2\")"));
  }
  NG_RETURN_IF_ERROR(grpc.Int("max_receive_message_bytes", &c.grpc.max_receive_message_bytes));
  NG_RETURN_IF_ERROR(grpc.Int("max_header_list_bytes", &c.grpc.max_header_list_bytes));
  NG_RETURN_IF_ERROR(grpc.Duration("stall_timeout", &c.grpc.stall_timeout));
  if (c.grpc.stall_timeout < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": grpc.stall_timeout: must be at least 1s"));
  }
  if (c.grpc.max_receive_message_bytes < 1024 ||
      c.grpc.max_receive_message_bytes > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": grpc.max_receive_message_bytes: ", c.grpc.max_receive_message_bytes,
                     " is out of range (1024..1073741824)"));
  }
  if (c.grpc.max_header_list_bytes < 1024 || c.grpc.max_header_list_bytes > (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": grpc.max_header_list_bytes: ", c.grpc.max_header_list_bytes,
                     " is out of range (1024..1048576)"));
  }
  struct Bound {
    const char* key;
    int* field;
    int64_t min, max;
  };
  for (const Bound& b :
       {Bound{"max_connections", &c.grpc.max_connections, 1, 1 << 20},
        Bound{"fd_headroom", &c.grpc.fd_headroom, 16, 1 << 16},
        Bound{"max_concurrent_streams", &c.grpc.max_concurrent_streams, 1, 1 << 16},
        Bound{"max_streams", &c.grpc.max_streams, 1, 1 << 20},
        Bound{"max_queued_calls", &c.grpc.max_queued_calls, 1, 1 << 20},
        Bound{"anonymous_rate", &c.grpc.anonymous_rate, 0, 1 << 20}}) {
    int64_t v = *b.field;
    NG_RETURN_IF_ERROR(grpc.Int(b.key, &v));
    if (v < b.min || v > b.max) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": grpc.", b.key, ": ", v, " is out of range (", b.min, "..", b.max, ")"));
    }
    *b.field = static_cast<int>(v);
  }
  NG_RETURN_IF_ERROR(grpc.RejectUnknown());
  if (c.grpc.handshake_timeout <= absl::ZeroDuration() ||
      c.grpc.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": grpc.handshake_timeout and grpc.idle_timeout must be positive"));
  }
  if (threads < 0 || threads > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": grpc.threads: ", threads, " is out of range (0 = one per CPU, at most 256)"));
  }
  if (blocking_threads < 1 || blocking_threads > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": grpc.blocking_threads: ", blocking_threads, " is out of range (1..256)"));
  }
  c.grpc.threads = static_cast<int>(threads);
  c.grpc.blocking_threads = static_cast<int>(blocking_threads);
  if (c.grpc.listen.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": grpc.listen: '", c.grpc.listen, "' is not host:port"));
  }

  if (!c.grpc.local_listen.empty()) {
    const std::string& a = c.grpc.local_listen;
    bool loopback =
        a.rfind("127.", 0) == 0 || a.rfind("localhost:", 0) == 0 || a.rfind("[::1]:", 0) == 0;
    if (!loopback || a.rfind(':') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": grpc.local_listen: '", a, "' must be a loopback host:port (127.x, [::1])"));
    }
  }

  Section tls(root->get_as<toml::table>("tls"), "tls", path);
  std::string client_auth = "require";
  NG_RETURN_IF_ERROR(tls.String("cert", &c.tls.files.cert));
  NG_RETURN_IF_ERROR(tls.String("key", &c.tls.files.key));
  NG_RETURN_IF_ERROR(tls.String("ca", &c.tls.files.ca));
  NG_RETURN_IF_ERROR(tls.String("crl", &c.tls.files.crl));
  NG_RETURN_IF_ERROR(tls.String("client_auth", &client_auth));
  NG_RETURN_IF_ERROR(tls.Duration("reload_interval", &c.tls.reload_interval));
  NG_RETURN_IF_ERROR(tls.RejectUnknown());
  absl::StatusOr<tls::ClientAuth> mode = tls::ParseClientAuth(client_auth);
  if (!mode.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", mode.status().message()));
  c.tls.client_auth = *mode;
  if (c.tls.files.cert.empty()) return absl::InvalidArgumentError(path + ": tls.cert: required");
  if (c.tls.files.key.empty()) return absl::InvalidArgumentError(path + ": tls.key: required");
  if (c.tls.client_auth != tls::ClientAuth::kNone && c.tls.files.ca.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": tls.ca: required when tls.client_auth = \"", client_auth, "\""));
  }
  if (c.tls.reload_interval < absl::Seconds(1) || c.tls.reload_interval > absl::Hours(24)) {
    return absl::InvalidArgumentError(path + ": tls.reload_interval: must be in 1s..24h");
  }
  for (std::string* p : {&c.tls.files.cert, &c.tls.files.key, &c.tls.files.ca, &c.tls.files.crl}) {
    *p = base::ResolvePath(base, *p);
  }

  const toml::table* store_table = root->get_as<toml::table>("store");
  Section store_section(store_table, "store", path);
  std::string backend = store::BackendName(c.store.backend);
  NG_RETURN_IF_ERROR(store_section.String("backend", &backend));
  NG_RETURN_IF_ERROR(store_section.String("path", &c.store.path));
  NG_RETURN_IF_ERROR(store_section.String("url", &c.store.url));
  int64_t pool_size = c.store.postgres.pool_size;
  NG_RETURN_IF_ERROR(store_section.Int("pool_size", &pool_size));
  NG_RETURN_IF_ERROR(store_section.Duration("acquire_timeout", &c.store.postgres.acquire_timeout));
  NG_RETURN_IF_ERROR(
      store_section.Duration("statement_timeout", &c.store.postgres.statement_timeout));
  NG_RETURN_IF_ERROR(store_section.Duration("connect_timeout", &c.store.postgres.connect_timeout));
  NG_RETURN_IF_ERROR(store_section.RejectUnknown());
  if (backend == "sqlite") {
    c.store.backend = store::StoreConfig::Backend::kSqlite;
    for (const char* key :
         {"url", "pool_size", "acquire_timeout", "statement_timeout", "connect_timeout"}) {
      if (store_table != nullptr && store_table->get(key) != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": store.", key,
                         ": only used with store.backend = \"postgres\" (backend is sqlite)"));
      }
    }
  } else if (backend == "postgres") {
    c.store.backend = store::StoreConfig::Backend::kPostgres;
    if (store_table != nullptr && store_table->get("path") != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path,
                       ": store.path: only used with store.backend = \"sqlite\"; remove it (the "
                       "postgres backend uses store.url)"));
    }
    if (c.store.url.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path,
          ": store.url: required with store.backend = \"postgres\" (a libpq connection "
          "string, e.g. \"host=db.example dbname=nodegate user=nodegate\")"));
    }
    if (absl::Status s = store::ValidatePostgresUrl(c.store.url); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": store.url: ", s.message()));
    }
    if (pool_size < 1 || pool_size > 256) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": store.pool_size: ", pool_size, " is out of range (1..256)"));
    }
    c.store.postgres.pool_size = static_cast<int>(pool_size);
    for (auto [d, key] : {std::pair{c.store.postgres.acquire_timeout, "acquire_timeout"},
                          {c.store.postgres.statement_timeout, "statement_timeout"},
                          {c.store.postgres.connect_timeout, "connect_timeout"}}) {
      if (d < absl::Milliseconds(100) || d > absl::Hours(1)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": store.", key, ": must be in 100ms..1h"));
      }
    }
    if (c.store.postgres.connect_timeout < absl::Seconds(2)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": store.connect_timeout: must be at least 2s (libpq rounds less up to 2s)"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path, ": store.backend: '", backend,
                                                   "' is not one of \"sqlite\", \"postgres\""));
  }
  c.store.path = c.store.path.empty() ? c.node.data_dir + "/nodegate.db"
                                      : base::ResolvePath(base, c.store.path);
  c.store.node_id = c.node.id;

  NG_RETURN_IF_ERROR(ParseAuth(root->get_as<toml::table>("auth"), path, &c.auth));

  Section ports(root->get_as<toml::table>("ports"), "ports", path);
  int64_t first = c.ports.first, last = c.ports.last;
  NG_RETURN_IF_ERROR(ports.Int("first", &first));
  NG_RETURN_IF_ERROR(ports.Int("last", &last));
  NG_RETURN_IF_ERROR(ports.Duration("lease_ttl", &c.ports.lease_ttl));
  NG_RETURN_IF_ERROR(ports.RejectUnknown());
  if (first < 1 || last > 65535 || first > last) {
    return absl::InvalidArgumentError(path +
                                      ": ports.first/ports.last: need 1 <= first <= last <= 65535");
  }
  if (c.ports.lease_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(path + ": ports.lease_ttl: must be positive");
  }
  c.ports.first = static_cast<int>(first);
  c.ports.last = static_cast<int>(last);

  Section kv(root->get_as<toml::table>("kv"), "kv", path);
  NG_RETURN_IF_ERROR(kv.Int("max_key_bytes", &c.kv.max_key_bytes));
  NG_RETURN_IF_ERROR(kv.Int("max_value_bytes", &c.kv.max_value_bytes));
  NG_RETURN_IF_ERROR(kv.Int("max_total_bytes", &c.kv.max_total_bytes));
  NG_RETURN_IF_ERROR(kv.Int("max_keys", &c.kv.max_keys));
  NG_RETURN_IF_ERROR(kv.RejectUnknown());
  for (auto [v, name] : {std::pair{c.kv.max_key_bytes, "kv.max_key_bytes"},
                         {c.kv.max_value_bytes, "kv.max_value_bytes"},
                         {c.kv.max_total_bytes, "kv.max_total_bytes"},
                         {c.kv.max_keys, "kv.max_keys"}}) {
    if (v <= 0)
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, ": must be positive"));
  }

  Section reg(root->get_as<toml::table>("registry"), "registry", path);
  int64_t cert_days = c.registry.cert_days;
  NG_RETURN_IF_ERROR(reg.String("ca_cert", &c.registry.ca_cert));
  NG_RETURN_IF_ERROR(reg.String("ca_key", &c.registry.ca_key));
  NG_RETURN_IF_ERROR(reg.Int("cert_days", &cert_days));
  NG_RETURN_IF_ERROR(reg.Duration("key_grace", &c.registry.key_grace));
  NG_RETURN_IF_ERROR(reg.RejectUnknown());
  if (c.registry.ca_cert.empty() != c.registry.ca_key.empty()) {
    return absl::InvalidArgumentError(path + ": registry.ca_cert and registry.ca_key go together");
  }
  if (cert_days < 1 || cert_days > 3650) {
    return absl::InvalidArgumentError(path + ": registry.cert_days: must be in 1..3650");
  }
  c.registry.cert_days = static_cast<int>(cert_days);
  c.registry.ca_cert = base::ResolvePath(base, c.registry.ca_cert);
  c.registry.ca_key = base::ResolvePath(base, c.registry.ca_key);

  Section http(root->get_as<toml::table>("http"), "http", path);
  std::string http_client_auth(tls::ClientAuthName(c.http.client_auth));
  NG_RETURN_IF_ERROR(http.String("listen", &c.http.listen));
  NG_RETURN_IF_ERROR(http.String("client_auth", &http_client_auth));
  NG_RETURN_IF_ERROR(http.String("client_cert", &c.http.client_cert));
  NG_RETURN_IF_ERROR(http.String("client_key", &c.http.client_key));
  NG_RETURN_IF_ERROR(http.Int("access_log_lines", &c.http.access_log_lines));
  NG_RETURN_IF_ERROR(http.Int("max_sessions", &c.http.max_sessions));
  NG_RETURN_IF_ERROR(http.Duration("session_idle_timeout", &c.http.session_idle_timeout));
  NG_RETURN_IF_ERROR(http.Duration("session_max_lifetime", &c.http.session_max_lifetime));
  NG_RETURN_IF_ERROR(
      ParseHttpsLimits(http, "http", path, /*request_timeout=*/true, &c.http.limits));
  NG_RETURN_IF_ERROR(http.RejectUnknown());
  absl::StatusOr<tls::ClientAuth> http_mode = tls::ParseClientAuth(http_client_auth);
  if (!http_mode.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": http.client_auth: '", http_client_auth,
                                                   "' is not one of require, request, none"));
  }
  c.http.client_auth = *http_mode;
  if (!c.http.listen.empty() && c.http.listen.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": http.listen: '", c.http.listen, "' is not host:port"));
  }
  if (!c.http.listen.empty() && c.http.client_auth != tls::ClientAuth::kNone &&
      c.tls.files.ca.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": http.client_auth: needs tls.ca to verify client certificates (or \"none\")"));
  }
  if (c.http.client_cert.empty() != c.http.client_key.empty()) {
    return absl::InvalidArgumentError(path + ": http.client_cert and http.client_key go together");
  }
  if (c.http.access_log_lines < 1 || c.http.access_log_lines > 100000) {
    return absl::InvalidArgumentError(path + ": http.access_log_lines: must be in 1..100000");
  }
  if (c.http.max_sessions < 1 || c.http.max_sessions > 1000000) {
    return absl::InvalidArgumentError(path + ": http.max_sessions: must be in 1..1000000");
  }
  if (c.http.session_idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(path + ": http.session_idle_timeout: must be positive");
  }
  if (c.http.session_max_lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(path + ": http.session_max_lifetime: must be positive");
  }
  c.http.client_cert = base::ResolvePath(base, c.http.client_cert);
  c.http.client_key = base::ResolvePath(base, c.http.client_key);

  NG_RETURN_IF_ERROR(ParseXmlRpc(root->get_as<toml::table>("xmlrpc"), path, &c));  // issue 5
  NG_RETURN_IF_ERROR(ParseTunnels(root->get("tunnel"), path, &c));                 // issue 5

  Section log(root->get_as<toml::table>("log"), "log", path);
  NG_RETURN_IF_ERROR(log.String("level", &c.log.level));
  NG_RETURN_IF_ERROR(log.String("access_log", &c.log.access_log));
  NG_RETURN_IF_ERROR(log.RejectUnknown());
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!kLevels.contains(c.log.level)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": log.level: '", c.log.level,
                     "' is not one of trace, debug, info, warn, error, off"));
  }
  if (c.log.access_log != "stdout" && c.log.access_log != "stderr" && c.log.access_log != "off") {
    c.log.access_log = base::ResolvePath(base, c.log.access_log);
  }
  return c;
}

absl::StatusOr<ClientConfig> LoadClientConfig(const std::string& path) {
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("config: ", text.status().message()));
  }
  return ParseClientConfig(*text, path);
}

absl::StatusOr<ConfigKind> ConfigFileKind(const std::string& path) {
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<toml::table> root = ParseToml(*text, path);
  if (!root.ok()) return root.status();
  return root->contains("client") ? ConfigKind::kClient : ConfigKind::kNode;
}

absl::StatusOr<ClientConfig> ParseClientConfig(std::string_view text, const std::string& path) {
  absl::StatusOr<toml::table> root = ParseToml(text, path);
  if (!root.ok()) return root.status();
  NG_RETURN_IF_ERROR(CheckTables(*root, {"client"}, path));
  ClientConfig c;
  Section client(root->get_as<toml::table>("client"), "client", path);
  NG_RETURN_IF_ERROR(client.String("target", &c.target));
  NG_RETURN_IF_ERROR(client.String("ca", &c.ca));
  NG_RETURN_IF_ERROR(client.String("cert", &c.cert));
  NG_RETURN_IF_ERROR(client.String("key", &c.key));
  NG_RETURN_IF_ERROR(client.String("server_name", &c.server_name));
  NG_RETURN_IF_ERROR(client.String("node_id", &c.node_id));
  NG_RETURN_IF_ERROR(client.String("audience", &c.audience));
  NG_RETURN_IF_ERROR(client.String("sign_key", &c.sign_key));
  NG_RETURN_IF_ERROR(client.String("token", &c.token));
  NG_RETURN_IF_ERROR(client.String("app_key", &c.app_key));
  NG_RETURN_IF_ERROR(client.String("app_secret", &c.app_secret));
  NG_RETURN_IF_ERROR(client.RejectUnknown());
  const std::string base = BaseDir(path);
  for (std::string* p : {&c.ca, &c.cert, &c.key, &c.sign_key}) *p = base::ResolvePath(base, *p);
  if (c.ca.empty()) return absl::InvalidArgumentError(path + ": client.ca: required");
  return c;
}

}  // namespace nodegate::server
