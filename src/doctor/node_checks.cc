#include "doctor/node_checks.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "auth/principal.h"
#include "base/files.h"
#include "doctor/checks.h"
#include "http/gateway.h"
#include "http/https_server.h"
#include "pki/certificate_check.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"
#include "server/config.h"
#include "server/node.h"
#include "store/store_factory.h"
#include "tls/credential_set.h"
#include "tls/dial_diagnosis.h"

namespace nodegate::doctor {
namespace {

using server::NodeConfig;

void Add(std::vector<Finding>* out, std::string check, Level level, std::string detail,
         std::string fix = "") {
  out->push_back({std::move(check), level, std::move(detail), std::move(fix)});
}

struct CertFiles {
  std::string cert_field, cert;
  std::string key_field, key;
  std::string ca_field, ca;
};

// parses / validity / key matches / chains to CA for one certificate, one finding each; the
// leaf's description when it parses.
std::optional<pki::CertificateInfo> CheckCertificateFiles(const CertFiles& f, absl::Time now,
                                                          std::vector<Finding>* out) {
  pki::CertificateCheckInput in;
  in.now = now;
  for (auto [path, pem, source] : {std::tuple{&f.cert, &in.cert_pem, &in.cert_source},
                                   {&f.key, &in.key_pem, &in.key_source},
                                   {&f.ca, &in.ca_pem, &in.ca_source}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> text = base::ReadFile(*path);
    if (!text.ok()) {
      const std::string& field =
          path == &f.cert ? f.cert_field : (path == &f.key ? f.key_field : f.ca_field);
      Add(out, absl::StrCat(field, " readable"), Level::kFail,
          absl::StrCat(field, ": ", text.status().message()),
          absl::StrCat("point ", field, " at the file, or make it readable by this user"));
      return std::nullopt;
    }
    *pem = *std::move(text);
    *source = *path;
  }
  for (const pki::CertificateCheckResult& r : pki::CheckCertificate(in)) {
    std::string check =
        r.what == "key matches"    ? absl::StrCat(f.key_field, " matches ", f.cert_field)
        : r.what == "chains to CA" ? absl::StrCat(f.cert_field, " chains to ", f.ca_field)
                                   : absl::StrCat(f.cert_field, " ", r.what);
    if (r.status.ok()) {
      Add(out, check, Level::kOk, r.what == "parses" ? f.cert : "");
      continue;
    }
    std::string fix = r.what == "key matches"
                          ? absl::StrCat("give the key ", f.cert_field, " was issued for")
                      : r.what == "chains to CA"
                          ? absl::StrCat("issue ", f.cert_field, " from ", f.ca_field,
                                         " (nodegate pki issue), or add its issuer to ", f.ca_field)
                          : absl::StrCat("reissue ", f.cert_field, " (nodegate pki issue)");
    Add(out, check, Level::kFail, absl::StrCat(f.cert_field, ": ", r.status.message()), fix);
  }
  absl::StatusOr<pki::CertificateInfo> info = pki::InspectCertificatePem(in.cert_pem, f.cert);
  if (!info.ok()) return std::nullopt;
  return *std::move(info);
}

void CheckTls(const NodeConfig& c, const NodeCheckOptions& o, std::vector<Finding>* out,
              std::optional<pki::CertificateInfo>* leaf) {
  const tls::TlsFiles& files = c.tls.files;
  *leaf = CheckCertificateFiles({"tls.cert", files.cert, "tls.key", files.key, "tls.ca", files.ca},
                                o.now, out);
  if (leaf->has_value()) {
    out->push_back(CheckExpiry("tls.cert expiry", (*leaf)->not_after, o.now, o.expiry_warning,
                               "reissue it before then; the node reloads tls.cert and tls.key "
                               "without a restart"));
    out->push_back(CheckUsage("tls.cert serverAuth", **leaf, "serverAuth",
                              "reissue it with --server (nodegate pki issue)"));
  }
  if (!files.ca.empty()) {
    if (absl::StatusOr<std::string> pem = base::ReadFile(files.ca); pem.ok()) {
      if (absl::StatusOr<pki::CertificateInfo> ca = pki::InspectCertificatePem(*pem, files.ca);
          ca.ok()) {
        out->push_back(CheckExpiry("tls.ca expiry", ca->not_after, o.now, o.expiry_warning,
                                   "make a new CA and reissue from it before then (docs/pki.md)"));
      }
    }
  }
  if (!files.crl.empty()) {
    absl::StatusOr<std::string> pem = base::ReadFile(files.crl);
    absl::StatusOr<pki::CrlInfo> crl =
        pem.ok() ? pki::InspectCrlPem(*pem, files.crl) : absl::StatusOr<pki::CrlInfo>(pem.status());
    if (!crl.ok()) {
      Add(out, "tls.crl parses", Level::kFail, absl::StrCat("tls.crl: ", crl.status().message()),
          "point tls.crl at a PEM CRL (nodegate pki crl), or remove the key");
    } else {
      out->push_back(
          CheckCrlNextUpdate("tls.crl nextUpdate", crl->next_update, o.now, o.expiry_warning));
    }
  }
  // The node's own loader is the last word: anything it refuses that the checks above did not
  // name (a CRL from another CA, say) is said here, as the node would say it.
  if (absl::StatusOr<tls::CredentialSet> set = tls::LoadCredentialSet(files, o.now); !set.ok()) {
    Add(out, "tls files load as the node loads them", Level::kFail,
        std::string(set.status().message()), "fix the file the message names");
  } else {
    Add(out, "tls files load as the node loads them", Level::kOk, "");
  }
}

void CheckListeners(const NodeConfig& c, std::vector<Finding>* out) {
  absl::StatusOr<std::string> pem = base::ReadFile(c.tls.files.cert);
  if (!pem.ok()) return;  // said by the tls.cert checks
  absl::StatusOr<std::vector<crypto::X509Ptr>> chain =
      pki::ParseCertificates(*pem, c.tls.files.cert);
  if (!chain.ok() || chain->empty()) return;
  for (auto [field, listen] : {std::pair{"grpc.listen", &c.grpc.listen},
                               {"http.listen", &c.http.listen},
                               {"xmlrpc.listen", &c.xmlrpc.listen}}) {
    if (listen->empty()) continue;
    out->push_back(CheckListenerNamed(field, *listen, chain->front().get(), "tls.cert"));
  }
}

void CheckConsoleClient(const NodeConfig& c, const NodeCheckOptions& o,
                        const std::optional<pki::CertificateInfo>& leaf,
                        std::vector<Finding>* out) {
  if (c.http.listen.empty()) return;
  const char* fix =
      "reissue it with --client as well (nodegate pki issue --server --client), or set "
      "http.client_cert / http.client_key to a client certificate";
  if (c.http.client_cert.empty()) {
    // The console calls this node's gRPC port with tls.cert: it is a client certificate too.
    if (leaf)
      out->push_back(
          CheckUsage("tls.cert clientAuth (the console's calls)", *leaf, "clientAuth", fix));
    return;
  }
  std::optional<pki::CertificateInfo> client =
      CheckCertificateFiles({"http.client_cert", c.http.client_cert, "http.client_key",
                             c.http.client_key, "tls.ca", c.tls.files.ca},
                            o.now, out);
  if (!client) return;
  out->push_back(CheckExpiry("http.client_cert expiry", client->not_after, o.now, o.expiry_warning,
                             "reissue it before then"));
  out->push_back(CheckUsage("http.client_cert clientAuth", *client, "clientAuth",
                            "reissue it with --client (nodegate pki issue --client)"));
}

void CheckRegistryCa(const NodeConfig& c, const NodeCheckOptions& o, std::vector<Finding>* out) {
  if (c.registry.ca_cert.empty()) return;
  std::optional<pki::CertificateInfo> ca = CheckCertificateFiles(
      {"registry.ca_cert", c.registry.ca_cert, "registry.ca_key", c.registry.ca_key, "", ""}, o.now,
      out);
  if (ca) {
    out->push_back(CheckExpiry("registry.ca_cert expiry", ca->not_after, o.now, o.expiry_warning,
                               "make a new CA before then (docs/pki.md)"));
  }
}

void CheckPolicy(const NodeConfig& c, const NodeCheckOptions& o, std::vector<Finding>* out) {
  absl::StatusOr<std::shared_ptr<const auth::Policy>> policy = server::BuildPolicy(c);
  if (!policy.ok()) {
    Add(out, "policy compiles", Level::kFail, std::string(policy.status().message()),
        "fix the [[auth.rule]] named (docs/config.md)");
    return;
  }
  Add(out, "policy compiles", Level::kOk,
      absl::StrCat(c.auth.rules.size(), " config rule(s); authenticators: ",
                   auth::AuthenticatorNames(c.auth.authenticators)));
  std::vector<std::string> served = server::ServedMethods();
  for (const char* m :
       {http::kConsolePolicyMethod, http::kConsoleMetricsMethod, http::kConsoleAccessLogMethod}) {
    served.emplace_back(m);
  }
  for (Finding& f : CheckRules(c.auth.rules, served, c.auth.authenticators)) {
    out->push_back(std::move(f));
  }
  if ((c.auth.authenticators & auth::kSignature) != 0) {
    out->push_back(
        CheckReplayCapacity(c.auth.replay_cache_capacity, c.auth.max_skew, o.signed_per_second));
  }
}

void CheckStore(const NodeConfig& c, std::vector<Finding>* out) {
  const std::string where = c.store.backend == store::StoreConfig::Backend::kPostgres
                                ? std::string("postgres")
                                : absl::StrCat("sqlite ", c.store.path);
  if (absl::Status s = store::ProbeStore(c.store); !s.ok()) {
    Add(out, "store opens", Level::kFail, std::string(s.message()),
        c.store.backend == store::StoreConfig::Backend::kPostgres
            ? "start the database or fix store.url (a passfile holds the password)"
            : "fix store.path, or the permissions of its directory");
  } else {
    Add(out, "store opens", Level::kOk, where);
  }
}

// A socket bound to `host:port` as the node binds it. 0 when free; otherwise errno.
int TryBind(const std::string& host, int port, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.empty() || host == "*" ? nullptr : host.c_str(), service.c_str(),
                           &hints, &res);
      rc != 0) {
    *error = gai_strerror(rc);
    return EADDRNOTAVAIL;
  }
  int result = 0;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      result = errno;
      *error = std::strerror(errno);
    }
    ::close(fd);
    if (result != 0) break;
  }
  freeaddrinfo(res);
  return result;
}

struct Listener {
  std::string field;
  std::string listen;
  bool tls = true;
  bool grpc = false;
};

void CheckPorts(const NodeConfig& c, const NodeCheckOptions& o,
                const std::optional<pki::CertificateInfo>& leaf, std::vector<Finding>* out) {
  std::vector<Listener> listeners = {{"grpc.listen", c.grpc.listen, true, true}};
  if (!c.grpc.local_listen.empty())
    listeners.push_back({"grpc.local_listen", c.grpc.local_listen, false, true});
  if (!c.http.listen.empty()) listeners.push_back({"http.listen", c.http.listen});
  if (!c.xmlrpc.listen.empty()) listeners.push_back({"xmlrpc.listen", c.xmlrpc.listen});
  for (size_t i = 0; i < c.tunnels.size(); ++i) {
    listeners.push_back({absl::StrCat("tunnel[", i, "].listen"), c.tunnels[i].options.listen,
                         !c.tunnels[i].client, false});
  }
  for (const Listener& l : listeners) {
    const std::string check = absl::StrCat(l.field, " port");
    absl::StatusOr<std::pair<std::string, int>> hp = http::SplitHostPort(l.listen, l.field);
    if (!hp.ok()) {
      Add(out, check, Level::kFail, std::string(hp.status().message()), "set host:port");
      continue;
    }
    const auto& [host, port] = *hp;
    if (port == 0) {
      Add(out, check, Level::kOk, absl::StrCat(l.listen, ": port 0, any free port at start"));
      continue;
    }
    std::string error;
    const int rc = TryBind(host, port, &error);
    if (rc == 0) {
      Add(out, check, Level::kOk, absl::StrCat(l.listen, " is free"));
      continue;
    }
    if (rc == EACCES) {
      Add(out, check, Level::kFail, absl::StrCat(l.listen, ": ", error),
          "ports below 1024 need CAP_NET_BIND_SERVICE (the systemd unit grants it), or pick a "
          "port above 1023");
      continue;
    }
    if (rc != EADDRINUSE) {
      Add(out, check, Level::kFail, absl::StrCat(l.listen, ": ", error),
          absl::StrCat("set ", l.field, " to an address of this host"));
      continue;
    }
    if (!l.tls) {
      Add(out, check, Level::kWarn,
          absl::StrCat(l.listen, " is taken (plaintext: who holds it cannot be told from here)"),
          "if this node is not running, stop what holds it (ss -ltnp) or choose another port");
      continue;
    }
    tls::ClientTlsOptions dial;
    dial.target = absl::StrCat(host.empty() || host == "0.0.0.0"     ? "127.0.0.1"
                               : host == "::"                        ? "[::1]"
                               : host.find(':') != std::string::npos ? absl::StrCat("[", host, "]")
                                                                     : host,
                               ":", port);
    dial.ca_file = c.tls.files.ca;
    dial.cert_file = c.tls.files.cert;
    dial.key_file = c.tls.files.key;
    tls::DialProbe probe = tls::ProbeDial(dial, o.probe_timeout);
    if (leaf && !probe.server_sha256.empty() && probe.server_sha256 == leaf->sha256_fingerprint) {
      std::string detail =
          absl::StrCat(l.listen, " is held by this node (it serves tls.cert; ", probe.tls_version,
                       ", ALPN ", probe.alpn.empty() ? "none" : probe.alpn, ")");
      if (l.grpc && probe.alpn != "h2") {
        Add(out, check, Level::kFail, detail + ": a gRPC port must agree to h2",
            "this is not nodegate's gRPC listener; check what serves it");
      } else {
        Add(out, check, Level::kOk, detail);
      }
    } else if (leaf && !probe.server_subject.empty() && probe.server_subject == leaf->subject) {
      Add(out, check, Level::kWarn,
          absl::StrCat(l.listen, " is held by a server with this node's subject (",
                       probe.server_subject,
                       ") but another certificate: this node, still "
                       "serving an older tls.cert?"),
          "send it SIGHUP (systemctl reload nodegate) or check why the reload was refused in its "
          "log");
    } else {
      Add(out, check, Level::kFail,
          absl::StrCat(l.listen, " is taken by another process",
                       probe.server_subject.empty()
                           ? " (it did not present a certificate to us)"
                           : absl::StrCat(" serving ", probe.server_subject)),
          absl::StrCat("stop it (ss -ltnp 'sport = :", port, "' names it) or change ", l.field));
    }
  }
}

std::vector<std::string> NginxFiles(const NodeCheckOptions& o) {
  if (!o.nginx_files.empty()) return o.nginx_files;
  std::vector<std::string> files;
  std::error_code ec;
  if (std::filesystem::exists(o.nginx_dir + "/nginx.conf", ec)) {
    files.push_back(o.nginx_dir + "/nginx.conf");
  }
  for (const char* sub : {"/conf.d", "/sites-enabled"}) {
    for (const auto& e : std::filesystem::directory_iterator(o.nginx_dir + sub, ec)) {
      if (e.is_regular_file(ec)) files.push_back(e.path().string());
    }
  }
  return files;
}

void CheckNginx(const NodeConfig& c, const NodeCheckOptions& o, std::vector<Finding>* out) {
  if ((c.auth.authenticators & auth::kAppKey) == 0) return;
  std::vector<int> ports;
  for (const std::string* listen : {&c.grpc.listen, &c.grpc.local_listen}) {
    if (absl::StatusOr<std::pair<std::string, int>> hp = http::SplitHostPort(*listen, "listen");
        hp.ok() && hp->second != 0) {
      ports.push_back(hp->second);
    }
  }
  std::vector<std::pair<std::string, std::string>> texts;
  for (const std::string& path : NginxFiles(o)) {
    absl::StatusOr<std::string> text = base::ReadFile(path);
    if (text.ok()) texts.emplace_back(path, *std::move(text));
  }
  std::vector<Finding> found = CheckNginxUnderscores(texts, ports);
  if (found.empty()) {
    Add(out, "nginx forwards app_key / app_secret", Level::kOk,
        texts.empty() ? "no nginx configuration found" : "no nginx file proxies here without it");
  }
  for (Finding& f : found) out->push_back(std::move(f));
}

}  // namespace

std::vector<Finding> CheckNode(const std::string& config_path, const NodeCheckOptions& options) {
  std::vector<Finding> out;
  absl::StatusOr<NodeConfig> config = server::LoadNodeConfig(config_path);
  if (!config.ok()) {
    Add(&out, "config parses", Level::kFail, std::string(config.status().message()),
        "fix the field named (docs/config.md lists every key)");
    return out;
  }
  Add(&out, "config parses", Level::kOk, config_path);
  const NodeConfig& c = *config;
  std::optional<pki::CertificateInfo> leaf;
  CheckTls(c, options, &out, &leaf);
  CheckListeners(c, &out);
  CheckConsoleClient(c, options, leaf, &out);
  CheckRegistryCa(c, options, &out);
  CheckPolicy(c, options, &out);
  CheckStore(c, &out);
  if (options.probe_ports) CheckPorts(c, options, leaf, &out);
  if (options.check_nginx) CheckNginx(c, options, &out);
  return out;
}

absl::StatusOr<tls::ClientTlsOptions> NodeClientOptions(const std::string& config_path,
                                                        const std::string& peer) {
  absl::StatusOr<NodeConfig> config = server::LoadNodeConfig(config_path);
  if (!config.ok()) return config.status();
  tls::ClientTlsOptions o;
  o.target = peer;
  o.ca_file = config->tls.files.ca;
  o.cert_file = config->tls.files.cert;
  o.key_file = config->tls.files.key;
  return o;
}

}  // namespace nodegate::doctor
