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
namespace {

struct X509StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct X509NameStackDeleter {
  void operator()(STACK_OF(X509_NAME) * s) const { sk_X509_NAME_pop_free(s, X509_NAME_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;
using X509NameStackPtr = std::unique_ptr<STACK_OF(X509_NAME), X509NameStackDeleter>;

// One published credential set, parsed for OpenSSL.
struct Material {
  std::string digest;
  crypto::X509Ptr leaf;
  X509StackPtr chain;  // intermediates after the leaf
  crypto::EvpPkeyPtr key;
  crypto::X509StorePtr verify;  // CA (+ CRL); null when no CA is configured
  X509NameStackPtr ca_names;    // sent in the CertificateRequest
};

std::string DrainOpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out.append("; ");
    out.append(buf);
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const Material>> Parse(const tls::CredentialSet& set) {
  auto m = std::make_shared<Material>();
  m->digest = set.content_digest;
  crypto::BioPtr certs(BIO_new_mem_buf(set.cert_chain_pem.data(),
                                       static_cast<int>(set.cert_chain_pem.size())));
  m->leaf.reset(PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr));
  if (!m->leaf) return absl::InvalidArgumentError("http tls: certificate: " + DrainOpenSslErrors());
  m->chain.reset(sk_X509_new_null());
  while (X509* extra = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(m->chain.get(), extra);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  crypto::BioPtr key(BIO_new_mem_buf(set.key_pem.data(), static_cast<int>(set.key_pem.size())));
  m->key.reset(PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr));
  if (!m->key) return absl::InvalidArgumentError("http tls: key: " + DrainOpenSslErrors());
  if (!set.ca_pem.empty()) {
    m->verify.reset(X509_STORE_new());
    m->ca_names.reset(sk_X509_NAME_new_null());
    crypto::BioPtr ca(BIO_new_mem_buf(set.ca_pem.data(), static_cast<int>(set.ca_pem.size())));
    while (X509* c = PEM_read_bio_X509(ca.get(), nullptr, nullptr, nullptr)) {
      crypto::X509Ptr owned(c);
      X509_STORE_add_cert(m->verify.get(), c);
      sk_X509_NAME_push(m->ca_names.get(), X509_NAME_dup(X509_get_subject_name(c)));
    }
    ERR_clear_error();
    if (!set.crl_pem.empty()) {
      crypto::BioPtr crl(BIO_new_mem_buf(set.crl_pem.data(), static_cast<int>(set.crl_pem.size())));
      while (X509_CRL* c = PEM_read_bio_X509_CRL(crl.get(), nullptr, nullptr, nullptr)) {
        crypto::X509CrlPtr owned(c);
        X509_STORE_add_crl(m->verify.get(), c);
      }
      ERR_clear_error();
      // The leaf's revocation, as the gRPC side checks it.
      X509_STORE_set_flags(m->verify.get(), X509_V_FLAG_CRL_CHECK);
    }
  }
  return std::shared_ptr<const Material>(std::move(m));
}

tls::PeerIdentity PeerOf(const SSL* ssl) {
  tls::PeerIdentity id;
  if (ssl == nullptr) return id;
  id.transport = "tls";
  X509* cert = SSL_get0_peer_certificate(ssl);
  // With SSL_VERIFY_PEER a presented certificate that fails verification fails the handshake;
  // the result check keeps "verified" explicit anyway.
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return id;
  absl::StatusOr<pki::CertificateInfo> info = pki::DescribeCertificate(cert);
  if (!info.ok()) return id;
  id.authenticated = true;
  id.common_name = info->common_name;
  for (const std::string& uri : info->uris) {
    if (uri.rfind("spiffe://", 0) == 0) {
      id.spiffe_id = uri;
      break;
    }
  }
  return id;
}

}  // namespace

struct ConsoleServer::TlsState {
  std::function<std::shared_ptr<const tls::CredentialSet>()> credentials;
  std::mutex mu;
  std::shared_ptr<const Material> current;

  std::shared_ptr<const Material> Get() {
    std::shared_ptr<const tls::CredentialSet> set = credentials();
    std::lock_guard<std::mutex> lock(mu);
    if (current == nullptr || current->digest != set->content_digest) {
      absl::StatusOr<std::shared_ptr<const Material>> parsed = Parse(*set);
      if (!parsed.ok()) {
        // The reloader validated this set; keep serving the previous one if it cannot be parsed.
        spdlog::error("{}", std::string(parsed.status().message()));
        return current;
      }
      current = *std::move(parsed);
    }
    return current;
  }

  // SSL_CTX cert callback: runs per handshake, before the CertificateRequest and the client
  // certificate's verification, so both follow the current set.
  static int CertCallback(SSL* ssl, void* arg) {
    std::shared_ptr<const Material> m = static_cast<TlsState*>(arg)->Get();
    if (m == nullptr) return 0;
    if (SSL_use_certificate(ssl, m->leaf.get()) != 1 || SSL_use_PrivateKey(ssl, m->key.get()) != 1 ||
        SSL_set1_chain(ssl, m->chain.get()) != 1) {
      return 0;
    }
    if (m->verify) {
      SSL_set1_verify_cert_store(ssl, m->verify.get());
      SSL_set_client_CA_list(ssl, SSL_dup_CA_list(m->ca_names.get()));
    }
    return 1;
  }
};

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address,
                                                          std::string_view field) {
  size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(field), ": '", address, "' is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, port);
}

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(
    ConsoleServerOptions options, std::shared_ptr<Gateway> gateway) {
  if (!options.credentials || gateway == nullptr) {
    return absl::InvalidArgumentError("http: credentials and gateway are required");
  }
  absl::StatusOr<std::pair<std::string, int>> hp = SplitHostPort(options.listen, "http.listen");
  if (!hp.ok()) return hp.status();

  std::unique_ptr<ConsoleServer> s(new ConsoleServer());
  s->gateway_ = std::move(gateway);
  s->tls_ = std::make_unique<TlsState>();
  s->tls_->credentials = options.credentials;
  if (s->tls_->Get() == nullptr) {
    return absl::InvalidArgumentError("http: the node's TLS credentials cannot be used for HTTPS");
  }
  TlsState* tls_state = s->tls_.get();
  const tls::ClientAuth client_auth = options.client_auth;
  s->server_ = std::make_unique<httplib::SSLServer>([tls_state, client_auth](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(&ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_cert_cb(&ctx, &TlsState::CertCallback, tls_state);
    int mode = SSL_VERIFY_NONE;
    if (client_auth == tls::ClientAuth::kRequest) mode = SSL_VERIFY_PEER;
    if (client_auth == tls::ClientAuth::kRequire) {
      mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(&ctx, mode, nullptr);
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
    in.peer = PeerOf(req.ssl);
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

  const auto& [host, port] = *hp;
  int bound = port;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
    if (bound <= 0) bound = 0;
  } else if (!server.bind_to_port(host, port)) {
    bound = 0;
  }
  if (bound == 0) {
    return absl::UnavailableError(absl::StrCat("http.listen: cannot listen on ", options.listen,
                                               " (address in use, or not a local address)"));
  }
  s->address_ = absl::StrCat(host.find(':') != std::string::npos ? "[" + host + "]" : host, ":",
                             bound);
  s->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs: wait for it, so that a Stop() right
  // after Start() cannot leave the thread accepting forever.
  for (int i = 0; i < 5000 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server.is_running()) {
    s->Stop();
    return absl::InternalError("http: the HTTPS accept loop did not start");
  }
  return s;
}

void ConsoleServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

ConsoleServer::~ConsoleServer() { Stop(); }

}  // namespace nodegate::http
