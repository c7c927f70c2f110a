#include "tls/ssl_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"
#include "spdlog/spdlog.h"
#include "tls/handshake_failure.h"

namespace nodegate::tls {
namespace ssl = boost::asio::ssl;

namespace {

absl::Status SslError(std::string_view what, const boost::system::error_code& ec) {
  std::string detail = ec.message();
  if (unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    detail = buf;
  }
  ERR_clear_error();
  return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": ", detail));
}

// Lets a server verify clients without session-resumption surprises: OpenSSL refuses to resume a
// session on a verifying server without a session id context.
constexpr unsigned char kSessionIdContext[] = "nodegate";

// OpenSSL 3.0 decodes a certificate's extensions (key identifiers, purposes) on first use and
// caches them behind a check of a flag that takes no lock, so two handshakes on two threads using
// a shared certificate for the first time race inside OpenSSL (ThreadSanitizer saw it on engine
// h2's event loops: one loop's chain check read the CA's key identifier while another wrote it).
// Doing it here, while the context is not yet shared, leaves nothing to race on.
void CacheExtensions(SSL_CTX* ctx) {
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
    if (cert != nullptr) X509_check_purpose(cert, -1, 0);
  }
  if (X509* own = SSL_CTX_get0_certificate(ctx); own != nullptr) X509_check_purpose(own, -1, 0);
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1) {
    for (int i = 0; i < sk_X509_num(chain); ++i) X509_check_purpose(sk_X509_value(chain, i), -1, 0);
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<ssl::context>> BuildSslContext(const CredentialSet& set,
                                                              TlsRole role,
                                                              ClientAuth client_auth) {
  auto ctx = std::make_shared<ssl::context>(role == TlsRole::kServer ? ssl::context::tls_server
                                                                     : ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  ctx->use_certificate_chain(boost::asio::buffer(set.cert_chain_pem), ec);
  if (ec) return SslError("tls.cert", ec);
  ctx->use_private_key(boost::asio::buffer(set.key_pem), ssl::context::pem, ec);
  if (ec) return SslError("tls.key", ec);
  if (!set.ca_pem.empty()) {
    ctx->add_certificate_authority(boost::asio::buffer(set.ca_pem), ec);
    if (ec) return SslError("tls.ca", ec);
  }
  if (!set.crl_pem.empty()) {
    absl::StatusOr<std::vector<crypto::X509CrlPtr>> crls = pki::ParseCrls(set.crl_pem, "tls.crl");
    if (!crls.ok()) return crls.status();
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    for (const crypto::X509CrlPtr& crl : *crls) X509_STORE_add_crl(store, crl.get());
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  if (role == TlsRole::kServer) {
    SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof(kSessionIdContext) - 1);
    // No resumption: a resumed session skips the client certificate's verification, so a
    // certificate revoked (CRL) or a CA dropped since would still be let in.
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    if (!set.ca_pem.empty()) {
      // The CA names in the CertificateRequest let a browser offer the right certificate.
      absl::StatusOr<std::vector<crypto::X509Ptr>> cas =
          pki::ParseCertificates(set.ca_pem, "tls.ca");
      if (!cas.ok()) return cas.status();
      STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
      for (const crypto::X509Ptr& ca : *cas) {
        sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.get())));
      }
      SSL_CTX_set_client_CA_list(native, names);  // takes ownership
    }
    switch (client_auth) {
      case ClientAuth::kRequire:
        ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
        break;
      case ClientAuth::kRequest:
        ctx->set_verify_mode(ssl::verify_peer);
        break;
      case ClientAuth::kNone:
        ctx->set_verify_mode(ssl::verify_none);
        break;
    }
    if (client_auth != ClientAuth::kNone && set.ca_pem.empty()) {
      return absl::InvalidArgumentError("tls.ca: required to verify client certificates");
    }
    RecordRejectedCertificates(native);  // so that a refusal can name the certificate
  } else {
    if (set.ca_pem.empty()) {
      return absl::InvalidArgumentError("tls.ca: required to verify the server");
    }
    ctx->set_verify_mode(ssl::verify_peer);
  }
  CacheExtensions(native);
  return ctx;
}

PeerIdentity PeerIdentityFromSsl(const SSL* ssl) {
  PeerIdentity id;
  if (ssl == nullptr) return id;
  id.transport = "tls";
  X509* cert = SSL_get0_peer_certificate(ssl);
  // With SSL_VERIFY_PEER a presented certificate that fails verification fails the handshake; the
  // result check keeps "verified" explicit for verify_none contexts too.
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

absl::StatusOr<std::unique_ptr<SslContextFollower>> SslContextFollower::New(Source source,
                                                                            ClientAuth client_auth,
                                                                            std::string what) {
  if (!source) return absl::InvalidArgumentError(what + ": no TLS credentials");
  std::shared_ptr<const CredentialSet> set = source();
  if (set == nullptr) return absl::InvalidArgumentError(what + ": no TLS credentials");
  if (client_auth != ClientAuth::kNone && set->ca_pem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ".client_auth: needs tls.ca to verify client certificates (or \"none\")"));
  }
  absl::StatusOr<std::shared_ptr<ssl::context>> ctx =
      BuildSslContext(*set, TlsRole::kServer, client_auth);
  if (!ctx.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", ctx.status().message()));
  }
  std::unique_ptr<SslContextFollower> f(
      new SslContextFollower(std::move(source), client_auth, std::move(what)));
  f->set_ = std::move(set);
  f->context_ = *std::move(ctx);
  return f;
}

std::shared_ptr<ssl::context> SslContextFollower::context() {
  std::shared_ptr<const CredentialSet> set = source_();
  std::lock_guard<std::mutex> lock(mu_);
  if (set != nullptr && set != set_) {
    absl::StatusOr<std::shared_ptr<ssl::context>> ctx =
        BuildSslContext(*set, TlsRole::kServer, client_auth_);
    // Remember the set either way: a set that cannot be built is not retried per handshake.
    set_ = set;
    if (ctx.ok()) {
      context_ = *std::move(ctx);
    } else {
      // The reloader validated this set; keep serving the previous context.
      spdlog::error("{}: new TLS credentials not used: {}", what_,
                    std::string(ctx.status().message()));
    }
  }
  return context_;
}

absl::StatusOr<std::unique_ptr<TlsContextSource>> TlsContextSource::New(const Options& options) {
  std::unique_ptr<TlsContextSource> source(new TlsContextSource(options));
  source->stat_signature_ = source->StatSignature();
  absl::StatusOr<CredentialSet> set = LoadCredentialSet(options.files, absl::Now());
  if (!set.ok()) return set.status();
  absl::StatusOr<std::shared_ptr<ssl::context>> ctx =
      BuildSslContext(*set, options.role, options.client_auth);
  if (!ctx.ok()) return ctx.status();
  source->context_ = *std::move(ctx);
  source->credentials_ = std::make_shared<const CredentialSet>(*std::move(set));
  return source;
}

std::shared_ptr<ssl::context> TlsContextSource::context() const {
  std::lock_guard<std::mutex> lock(mu_);
  return context_;
}

std::shared_ptr<const CredentialSet> TlsContextSource::credentials() const {
  std::lock_guard<std::mutex> lock(mu_);
  return credentials_;
}

uint64_t TlsContextSource::reloads_ok() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reloads_ok_;
}

uint64_t TlsContextSource::reloads_failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reloads_failed_;
}

std::string TlsContextSource::StatSignature() const {
  std::string sig;
  for (const std::string* path :
       {&options_.files.cert, &options_.files.key, &options_.files.ca, &options_.files.crl}) {
    struct stat st {};
    if (path->empty() || ::stat(path->c_str(), &st) != 0) {
      sig += "-;";
      continue;
    }
    absl::StrAppend(&sig, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, ";");
  }
  return sig;
}

absl::Status TlsContextSource::Refresh(bool force) {
  std::string signature = StatSignature();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!force && signature == stat_signature_) return absl::OkStatus();
  }
  absl::StatusOr<CredentialSet> set = LoadCredentialSet(options_.files, absl::Now());
  absl::StatusOr<std::shared_ptr<ssl::context>> ctx =
      set.ok() ? BuildSslContext(*set, options_.role, options_.client_auth)
               : absl::StatusOr<std::shared_ptr<ssl::context>>(set.status());
  std::lock_guard<std::mutex> lock(mu_);
  if (!ctx.ok()) {
    // Keep the old signature: the files are looked at again on the next poll (an operator may be
    // half-way through replacing key and cert).
    ++reloads_failed_;
    return ctx.status();
  }
  stat_signature_ = signature;
  if (set->content_digest == credentials_->content_digest) return absl::OkStatus();
  context_ = *std::move(ctx);
  credentials_ = std::make_shared<const CredentialSet>(*std::move(set));
  ++reloads_ok_;
  return absl::OkStatus();
}

}  // namespace nodegate::tls
