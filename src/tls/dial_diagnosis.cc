#include "tls/dial_diagnosis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/files.h"
#include "crypto/openssl_error.h"
#include "crypto/openssl_ptr.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"

namespace nodegate::tls {
namespace {

using Outcome = DialProbe::Outcome;

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};

// A socket closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// OpenSSL writes to the socket with write(): a server that has already closed would raise SIGPIPE
// and end the whole command. Blocked on this thread for the probe; one raised meanwhile is
// consumed.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ~ScopedSigpipeBlock() {
    if (!blocked_) return;
    sigset_t pending;
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1 &&
        sigismember(&old_, SIGPIPE) == 0) {
      const timespec zero{0, 0};
      (void)sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool blocked_ = false;
};

// "host:port", "[v6]:port", with an optional "dns:///" or "ipv4:"/"ipv6:" scheme as gRPC takes.
bool SplitTarget(std::string_view target, std::string* host, std::string* port) {
  for (std::string_view scheme : {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
    if (target.starts_with(scheme)) {
      target.remove_prefix(scheme.size());
      break;
    }
  }
  if (target.starts_with("[")) {
    const size_t close = target.find(']');
    if (close == std::string_view::npos || close + 1 >= target.size() || target[close + 1] != ':') {
      return false;
    }
    *host = std::string(target.substr(1, close - 1));
    *port = std::string(target.substr(close + 2));
  } else {
    const size_t colon = target.rfind(':');
    if (colon == std::string_view::npos) return false;
    *host = std::string(target.substr(0, colon));
    *port = std::string(target.substr(colon + 1));
  }
  int n = 0;
  return !host->empty() && absl::SimpleAtoi(*port, &n) && n > 0 && n < 65536;
}

bool IsIpLiteral(const std::string& name) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// A connected socket (blocking, with send/receive timeouts), or -1 with `probe` filled in.
int Connect(const std::string& host, const std::string& port, absl::Duration timeout,
            DialProbe* probe) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    probe->outcome = Outcome::kUnreachable;
    probe->detail = absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc));
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
  probe->outcome = Outcome::kUnreachable;
  for (addrinfo* a = list.get(); a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      // A signal (EINTR) is not a connection: wait again for what is left of the timeout.
      const absl::Time deadline = absl::Now() + timeout;
      pollfd p{fd, POLLOUT, 0};
      do {
        const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
        rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0)));
      } while (rc < 0 && errno == EINTR);
      if (rc == 0) {
        err = ETIMEDOUT;
      } else if (rc < 0) {
        err = errno;
      } else {
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      }
    }
    if (err != 0) {
      ::close(fd);
      probe->outcome = err == ECONNREFUSED ? Outcome::kRefused : Outcome::kUnreachable;
      probe->detail = std::strerror(err);
      continue;
    }
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(absl::ToInt64Seconds(timeout));
    tv.tv_usec = static_cast<suseconds_t>(absl::ToInt64Microseconds(timeout) % 1000000);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    // Back to blocking: the timeouts above bound each read and write.
    if (int cur = fcntl(fd, F_GETFL); cur >= 0) fcntl(fd, F_SETFL, cur & ~O_NONBLOCK);
    probe->outcome = Outcome::kAccepted;
    probe->detail.clear();
    return fd;
  }
  return -1;
}

// The TLS alert the server sent (as OpenSSL recorded it in the error queue), in words.
std::string AlertFromErrors(unsigned long err) {
  const int reason = ERR_GET_REASON(err);
  if (ERR_GET_LIB(err) == ERR_LIB_SSL && reason > SSL_AD_REASON_OFFSET &&
      reason < SSL_AD_REASON_OFFSET + 256) {
    return SSL_alert_desc_string_long(reason - SSL_AD_REASON_OFFSET);
  }
  return "";
}

// Classifies a failed SSL_connect / SSL_read (the error queue holds why).
void ClassifySslFailure(SSL* ssl, int rc, DialProbe* probe) {
  const int what = SSL_get_error(ssl, rc);
  const unsigned long err = ERR_peek_last_error();
  probe->alert = AlertFromErrors(err);
  const bool not_tls = probe->alert.empty() && ERR_GET_LIB(err) == ERR_LIB_SSL &&
                       (ERR_GET_REASON(err) == SSL_R_WRONG_VERSION_NUMBER ||
                        ERR_GET_REASON(err) == SSL_R_PACKET_LENGTH_TOO_LONG);
  const bool still_waiting = probe->alert.empty() && what == SSL_ERROR_SYSCALL && err == 0 &&
                             (errno == EAGAIN || errno == EWOULDBLOCK);
  if (not_tls) {
    probe->outcome = Outcome::kNotTls;
  } else if (still_waiting) {
    probe->outcome = Outcome::kAccepted;  // the server is still waiting: nothing refused us
  } else {
    // An alert, a close (EOF or reset) or another handshake error: the server ended it.
    probe->outcome = Outcome::kServerClosedHandshake;
  }
  probe->detail = crypto::DrainOpenSslErrors();
}

}  // namespace

absl::Status CheckClientIdentity(const ClientTlsOptions& options) {
  if (options.cert_file.empty() && options.key_file.empty()) return absl::OkStatus();
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError("client: cert and key must be given together");
  }
  absl::StatusOr<std::string> cert_pem = base::ReadFile(options.cert_file);
  if (!cert_pem.ok()) {
    return absl::Status(cert_pem.status().code(),
                        absl::StrCat("cert: ", cert_pem.status().message()));
  }
  absl::StatusOr<std::string> key_pem = base::ReadFile(options.key_file);
  if (!key_pem.ok()) {
    return absl::Status(key_pem.status().code(), absl::StrCat("key: ", key_pem.status().message()));
  }
  absl::StatusOr<std::vector<crypto::X509Ptr>> certs =
      pki::ParseCertificates(*cert_pem, options.cert_file);
  if (!certs.ok())
    return absl::InvalidArgumentError(absl::StrCat("cert: ", certs.status().message()));
  absl::StatusOr<crypto::EvpPkeyPtr> key = pki::ParsePrivateKey(*key_pem, options.key_file);
  if (!key.ok()) return absl::InvalidArgumentError(absl::StrCat("key: ", key.status().message()));
  if (X509_check_private_key(certs->front().get(), key->get()) != 1) {
    crypto::DrainOpenSslErrors();
    return absl::InvalidArgumentError(
        absl::StrCat("client: the key ", options.key_file, " does not belong to the certificate ",
                     options.cert_file, " (give the key the certificate was issued for)"));
  }
  return absl::OkStatus();
}

DialProbe ProbeDial(const ClientTlsOptions& options, absl::Duration timeout) {
  DialProbe probe;
  probe.host_port = options.target;
  std::string host;
  std::string port;
  if (!SplitTarget(options.target, &host, &port)) {
    probe.outcome = Outcome::kBadTarget;
    return probe;
  }
  probe.host_port = absl::StrCat(absl::StrContains(host, ':') ? "[" + host + "]" : host, ":", port);
  probe.expected_name = options.server_name.empty() ? host : options.server_name;

  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) {
    probe.detail = crypto::DrainOpenSslErrors();
    return probe;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Verification is done after the handshake (SSL_get_verify_result) so that an untrusted
  // server's certificate can still be looked at and named.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  absl::StatusOr<std::string> ca_pem = base::ReadFile(options.ca_file);
  if (!ca_pem.ok()) {
    probe.detail = std::string(ca_pem.status().message());
    return probe;
  }
  absl::StatusOr<std::vector<crypto::X509Ptr>> cas =
      pki::ParseCertificates(*ca_pem, options.ca_file);
  if (!cas.ok()) {
    probe.detail = std::string(cas.status().message());
    return probe;
  }
  for (const crypto::X509Ptr& ca : *cas)
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca.get());
  if (!options.cert_file.empty() && !options.key_file.empty()) {
    if (!CheckClientIdentity(options).ok()) return probe;  // said before any connection
    SSL_CTX_use_certificate_chain_file(ctx.get(), options.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), options.key_file.c_str(), SSL_FILETYPE_PEM);
  }
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
  crypto::DrainOpenSslErrors();

  const ScopedSigpipeBlock no_sigpipe;
  Fd fd(Connect(host, port, timeout, &probe));
  if (fd.get() < 0) return probe;
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  if (ssl == nullptr || SSL_set_fd(ssl.get(), fd.get()) != 1) {
    probe.detail = crypto::DrainOpenSslErrors();
    return probe;
  }
  if (!IsIpLiteral(probe.expected_name)) {
    SSL_set_tlsext_host_name(ssl.get(), probe.expected_name.c_str());
  }
  errno = 0;
  if (int rc = SSL_connect(ssl.get()); rc != 1) {
    ClassifySslFailure(ssl.get(), rc, &probe);
    if (probe.outcome == Outcome::kAccepted) probe.outcome = Outcome::kServerClosedHandshake;
    return probe;
  }
  probe.tls_version = SSL_get_version(ssl.get());
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_len);
  if (alpn != nullptr) probe.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  crypto::X509Ptr server(SSL_get1_peer_certificate(ssl.get()));
  if (server == nullptr) {
    probe.outcome = Outcome::kServerUntrusted;
    probe.detail = "the server sent no certificate";
    return probe;
  }
  if (absl::StatusOr<pki::CertificateInfo> info = pki::DescribeCertificate(server.get());
      info.ok()) {
    probe.server_subject = info->subject;
    probe.server_issuer = info->issuer;
    probe.server_not_after = info->not_after;
    probe.server_sha256 = info->sha256_fingerprint;
    for (const std::string& san : info->sans) {
      if (absl::StartsWith(san, "DNS:")) probe.server_names.push_back(san.substr(4));
      if (absl::StartsWith(san, "IP:")) probe.server_names.push_back(san.substr(3));
    }
  }
  const long verify = SSL_get_verify_result(ssl.get());
  if (verify != X509_V_OK) {
    probe.outcome = verify == X509_V_ERR_CERT_HAS_EXPIRED || verify == X509_V_ERR_CERT_NOT_YET_VALID
                        ? Outcome::kServerExpired
                        : Outcome::kServerUntrusted;
    probe.detail = X509_verify_cert_error_string(verify);
    return probe;
  }
  if (!pki::CertificateNamesHost(server.get(), probe.expected_name)) {
    probe.outcome = Outcome::kNameMismatch;
    return probe;
  }
  // Under TLS 1.3 the server checks our certificate after our side of the handshake is done: its
  // verdict (an alert, or the socket closed) is the first thing to read. A server that accepted us
  // sends its HTTP/2 SETTINGS instead, or nothing until we speak; either way nothing refused us.
  // Nothing is written first: a refusing server closes at once, and bytes it never read would
  // turn its close into a reset that can overtake the alert.
  timeval verdict{};
  verdict.tv_sec = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &verdict, sizeof(verdict));
  char buf[256];
  errno = 0;
  if (int rc = SSL_read(ssl.get(), buf, sizeof(buf)); rc <= 0) {
    if (SSL_get_error(ssl.get(), rc) == SSL_ERROR_WANT_READ) {  // the wait ran out: no verdict
      crypto::DrainOpenSslErrors();
      probe.outcome = Outcome::kAccepted;
      return probe;
    }
    ClassifySslFailure(ssl.get(), rc, &probe);
    return probe;
  }
  probe.outcome = Outcome::kAccepted;
  return probe;
}

std::string ExplainDialProbe(const DialProbe& probe, const ClientTlsOptions& options) {
  switch (probe.outcome) {
    case Outcome::kAccepted:
      return "";
    case Outcome::kBadTarget:
      return absl::StrCat("the target '", options.target, "' is not HOST:PORT");
    case Outcome::kRefused:
      return absl::StrCat("nothing listens on ", probe.host_port,
                          " (connection refused) — is the node running, and is this its "
                          "grpc.listen address?");
    case Outcome::kUnreachable:
      return absl::StrCat("cannot reach ", probe.host_port, ": ", probe.detail);
    case Outcome::kNotTls:
      return absl::StrCat(probe.host_port,
                          " does not speak TLS (it answered in plaintext) — is this the node's "
                          "grpc.listen port rather than a plaintext or HTTP port?");
    case Outcome::kServerUntrusted:
      return absl::StrCat("the server's certificate (", probe.server_subject, ", issued by ",
                          probe.server_issuer, ") does not chain to your CA ", options.ca_file,
                          " (", probe.detail,
                          ") — give --ca the CA that issued the node's certificate");
    case Outcome::kServerExpired:
      return absl::StrCat("the server's certificate (", probe.server_subject,
                          ") is outside its validity (", probe.detail,
                          ") — the node must renew it (nodegate pki issue --server)");
    case Outcome::kNameMismatch: {
      std::string sentence = absl::StrCat(
          "the server's certificate does not name ", probe.expected_name, " (it names: ",
          probe.server_names.empty() ? std::string("no DNS or IP name")
                                     : absl::StrJoin(probe.server_names, ", "),
          ")");
      if (!probe.server_names.empty()) {
        absl::StrAppend(&sentence, " — use --server-name ", probe.server_names.front(),
                        " or reissue with --san ", probe.expected_name);
      } else {
        absl::StrAppend(&sentence, " — reissue it with --san ", probe.expected_name);
      }
      return sentence;
    }
    case Outcome::kServerClosedHandshake: {
      const std::string alert =
          probe.alert.empty() ? std::string() : absl::StrCat(" (TLS alert: ", probe.alert, ")");
      if (options.cert_file.empty()) {
        return absl::StrCat("the server closed the handshake", alert,
                            ": it probably requires a client certificate — give --cert and --key "
                            "(or a --config with cert/key); see the node's log");
      }
      return absl::StrCat("the server closed the handshake", alert,
                          ": your certificate may be revoked, expired, from another CA or lack "
                          "clientAuth — see the node's log");
    }
  }
  return "";
}

std::string DiagnoseDialFailure(const ClientTlsOptions& options, absl::Duration timeout) {
  return ExplainDialProbe(ProbeDial(options, timeout), options);
}

}  // namespace nodegate::tls
