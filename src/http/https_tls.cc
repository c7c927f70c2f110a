#include "http/https_tls.h"

#include <httplib.h>
#include <openssl/err.h>

#include <chrono>
#include <openssl/pem.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "crypto/openssl_error.h"
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

}  // namespace

struct HttpsTls::Material {
  std::string digest;
  crypto::X509Ptr leaf;
  std::unique_ptr<STACK_OF(X509), X509StackDeleter> chain;  // intermediates after the leaf
  crypto::EvpPkeyPtr key;
  crypto::X509StorePtr verify;  // CA (+ CRL); null when no CA is configured
  std::unique_ptr<STACK_OF(X509_NAME), X509NameStackDeleter> ca_names;  // CertificateRequest
};

absl::StatusOr<std::unique_ptr<HttpsTls>> HttpsTls::New(Source credentials, std::string what) {
  if (!credentials) return absl::InvalidArgumentError(what + ": no TLS credentials");
  std::unique_ptr<HttpsTls> t(new HttpsTls(std::move(credentials), std::move(what)));
  if (t->Current() == nullptr) {
    return absl::InvalidArgumentError(t->what_ + ": the node's TLS credentials cannot be used");
  }
  return t;
}

HttpsTls::~HttpsTls() = default;

bool HttpsTls::has_ca() {
  std::shared_ptr<const Material> m = Current();
  return m != nullptr && m->verify != nullptr;
}

std::shared_ptr<const HttpsTls::Material> HttpsTls::Current() {
  std::shared_ptr<const tls::CredentialSet> set = credentials_();
  std::lock_guard<std::mutex> lock(mu_);
  if (set != nullptr && (current_ == nullptr || current_->digest != set->content_digest)) {
    absl::StatusOr<std::shared_ptr<const Material>> parsed = Parse(*set, what_);
    if (!parsed.ok()) {
      // The reloader validated this set; keep serving the previous one if it cannot be parsed.
      spdlog::error("{}", std::string(parsed.status().message()));
      return current_;
    }
    current_ = *std::move(parsed);
  }
  return current_;
}

// Runs per handshake, before the CertificateRequest and the client certificate's verification,
// so both follow the current set.
int HttpsTls::CertCallback(SSL* ssl, void* arg) {
  std::shared_ptr<const Material> m = static_cast<HttpsTls*>(arg)->Current();
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

void HttpsTls::Configure(SSL_CTX& ctx, tls::ClientAuth client_auth) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(&ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_cert_cb(&ctx, &HttpsTls::CertCallback, this);
  int mode = SSL_VERIFY_NONE;
  if (client_auth == tls::ClientAuth::kRequest) mode = SSL_VERIFY_PEER;
  if (client_auth == tls::ClientAuth::kRequire) {
    mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  SSL_CTX_set_verify(&ctx, mode, nullptr);
}

absl::StatusOr<std::shared_ptr<const HttpsTls::Material>> HttpsTls::Parse(
    const tls::CredentialSet& set, const std::string& what) {
  auto m = std::make_shared<Material>();
  m->digest = set.content_digest;
  crypto::BioPtr certs(BIO_new_mem_buf(set.cert_chain_pem.data(),
                                       static_cast<int>(set.cert_chain_pem.size())));
  m->leaf.reset(PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr));
  if (!m->leaf) {
    return absl::InvalidArgumentError(what + " tls: certificate: " + crypto::DrainOpenSslErrors());
  }
  m->chain.reset(sk_X509_new_null());
  while (X509* extra = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(m->chain.get(), extra);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  crypto::BioPtr key(BIO_new_mem_buf(set.key_pem.data(), static_cast<int>(set.key_pem.size())));
  m->key.reset(PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr));
  if (!m->key) return absl::InvalidArgumentError(what + " tls: key: " + crypto::DrainOpenSslErrors());
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

tls::PeerIdentity VerifiedPeer(const SSL* ssl) {
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
  id.serial_hex = info->serial_hex;
  for (const std::string& uri : info->uris) {
    if (uri.rfind("spiffe://", 0) == 0) {
      id.spiffe_id = uri;
      break;
    }
  }
  return id;
}

absl::StatusOr<std::string> BindAndServe(httplib::Server& server, const std::string& listen,
                                         std::string_view field, std::thread* thread) {
  absl::StatusOr<std::pair<std::string, int>> hp = SplitHostPort(listen, field);
  if (!hp.ok()) return hp.status();
  const auto& [host, port] = *hp;
  int bound = port;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
    if (bound <= 0) bound = 0;
  } else if (!server.bind_to_port(host, port)) {
    bound = 0;
  }
  if (bound == 0) {
    return absl::UnavailableError(absl::StrCat(std::string(field), ": cannot listen on ", listen,
                                               " (address in use, or not a local address)"));
  }
  *thread = std::thread([&server] { server.listen_after_bind(); });
  for (int i = 0; i < 5000 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server.is_running()) {
    server.stop();
    thread->join();
    return absl::InternalError(absl::StrCat(std::string(field), ": the server did not start"));
  }
  return absl::StrCat(host.find(':') != std::string::npos ? "[" + host + "]" : host, ":", bound);
}

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address,
                                                          std::string_view field) {
  size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(field), ": '", address, "' is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, port);
}

}  // namespace nodegate::http
