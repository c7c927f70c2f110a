#include "tunnel/proxy.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pki/certificate_info.h"
#include "spdlog/spdlog.h"
#include "tls/handshake_failure.h"
#include "tls/ssl_context.h"

namespace nodegate::tunnel::internal {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using TcpSocket = asio::ip::tcp::socket;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using TlsStream = ssl::stream<tcp::socket>;

constexpr size_t kBufferBytes = size_t{64} * 1024;

struct HostPort {
  std::string host;
  std::string port;
};

// "host:port", "[v6]:port"; the port must be a number (0 allowed where `allow_zero`).
absl::StatusOr<HostPort> SplitHostPort(const std::string& text, std::string_view field,
                                       bool allow_zero) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(field), ": '", text, "' is not host:port"));
  }
  HostPort hp{text.substr(0, colon), text.substr(colon + 1)};
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  int port = 0;
  if (!absl::SimpleAtoi(hp.port, &port) || port < (allow_zero ? 0 : 1) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(field), ": '", text, "' has no valid port"));
  }
  return hp;
}

std::string EndpointText(const tcp::endpoint& ep) {
  error_code ec;
  std::string host = ep.address().to_string(ec);
  if (ep.address().is_v6()) host = absl::StrCat("[", host, "]");
  return absl::StrCat(host, ":", ep.port());
}

bool IsEof(const error_code& ec) {
  return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

// The handshake error with the certificate verification result when there is one.
std::string TlsErrorText(const error_code& ec, SSL* ssl) {
  std::string text = ec.message();
  if (ssl != nullptr) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      absl::StrAppend(&text, " (", X509_verify_cert_error_string(verify), ")");
    }
    // A client certificate that failed verification, named (OpenSSL keeps none after a failure).
    const tls::HandshakeFailure f = tls::DescribeHandshakeFailure(ssl, 0);
    if (!f.subject.empty()) {
      absl::StrAppend(&text, " [", std::string(tls::HandshakeReasonWords(f.reason)), ": subject ",
                      f.subject, ", serial ", f.serial, "]");
    }
  }
  return text;
}

// Produces the TLS close_notify alert without waiting for the peer's, so that one direction can be
// closed while the other keeps reading (TCP half-close, carried over TLS).
//
// Asio's async_shutdown cannot do this: it calls SSL_shutdown a second time to wait for the peer's
// close_notify, and that call discards application data still in flight towards us. So SSL_shutdown
// is called once with a memory BIO as the write BIO, and the caller writes the alert's bytes on the
// TCP socket itself. Safe because every handler runs on the proxy's one thread and the direction
// that writes to this stream is idle (its last write completed). OpenSSL keeps SSL_read working
// after our close_notify until the peer's arrives (documented for SSL_shutdown).
std::string CloseNotifyBytes(SSL* ssl) {
  BIO* original = SSL_get_wbio(ssl);
  if (original == nullptr || SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) return {};
  BIO* mem = BIO_new(BIO_s_mem());
  if (mem == nullptr) return {};
  BIO_up_ref(original);     // our reference keeps it alive while it is not the write BIO
  SSL_set0_wbio(ssl, mem);  // drops the SSL's write reference to `original` (rbio still holds one)
  ERR_clear_error();
  SSL_shutdown(ssl);
  char* data = nullptr;
  long len = BIO_get_mem_data(mem, &data);
  std::string out(data != nullptr && len > 0 ? std::string(data, static_cast<size_t>(len)) : "");
  SSL_set0_wbio(ssl, original);  // frees `mem`, takes over our reference
  ERR_clear_error();
  return out;
}

}  // namespace

class Connection;

class Proxy::Impl {
 public:
  Impl(ProxyMode mode, const TunnelOptions& options)
      : mode_(mode), options_(options), acceptor_(io_), reload_timer_(io_), retry_timer_(io_) {}

  absl::Status Init();
  void Run() {
    thread_ = std::thread([this] { io_.run(); });
  }
  void Stop();
  absl::Status Reload();
  ProxyStats stats() const {
    ProxyStats s;
    s.accepted = accepted_.load();
    s.active = active_.load();
    s.refused = refused_.load();
    if (tls_) {
      s.reloads_ok = tls_->reloads_ok();
      s.reloads_failed = tls_->reloads_failed();
    }
    return s;
  }
  const std::string& address() const { return address_; }

 private:
  friend class Connection;
  void Accept();
  void PollFiles();
  void Finished(uint64_t id) {
    conns_.erase(id);
    active_.fetch_sub(1);
  }
  void ReportReload(const absl::Status& s, uint64_t ok_before);

  const ProxyMode mode_;
  const TunnelOptions options_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  asio::steady_timer reload_timer_;
  asio::steady_timer retry_timer_;
  std::unique_ptr<tls::TlsContextSource> tls_;  // null: plain echo
  std::string address_;
  HostPort target_;
  std::string server_name_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  // io thread only:
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> conns_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::string last_reload_error_;
  // any thread:
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> active_{0};
  std::atomic<uint64_t> refused_{0};
  std::mutex reload_log_mu_;
};

// One accepted connection: handshake (per mode), dial the target, relay both ways until both
// directions saw end-of-stream or anything fails, then one log line.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Proxy::Impl* proxy, uint64_t id, tcp::socket accepted)
      : proxy_(proxy),
        id_(id),
        timer_(proxy->io_),
        resolver_(proxy->io_),
        start_(Clock::now()),
        last_activity_(start_) {
    error_code ec;
    peer_ = EndpointText(accepted.remote_endpoint(ec));
    down_.plain = std::make_unique<TcpSocket>(std::move(accepted));
  }

  void Start();
  void Close(const std::string& reason);

 private:
  // One end: a plain socket, or a TLS stream over one.
  struct Side {
    std::unique_ptr<TcpSocket> plain;
    std::unique_ptr<TlsStream> tls;
    // Not const: it hands out the socket for writing and closing; a const Side must not.
    // NOLINTNEXTLINE(readability-make-member-function-const)
    TcpSocket& lowest() { return tls ? tls->next_layer() : *plain; }
    bool open() const { return tls || plain; }
  };
  struct Direction {
    Side* from = nullptr;
    Side* to = nullptr;
    const char* from_name = "";
    const char* to_name = "";
    std::vector<char> buffer;
    uint64_t bytes = 0;
    bool done = false;
  };

  void ServerHandshake(std::function<void()> next);
  void Dial();
  void ClientHandshake();
  void StartRelay();
  void Read(Direction& d);
  void Write(Direction& d, size_t n);
  void EndOfStream(Direction& d);
  void DirectionDone(Direction& d);
  void ArmDeadline(absl::Duration d, std::string reason);
  void ArmIdle();
  void WrapTls(Side& side) {
    side.tls = std::make_unique<TlsStream>(std::move(*side.plain), *ctx_);
    side.plain.reset();
  }

  Proxy::Impl* const proxy_;
  const uint64_t id_;
  asio::steady_timer timer_;
  tcp::resolver resolver_;
  std::shared_ptr<ssl::context> ctx_;  // the context this connection started with, kept alive
  Side down_;                          // the accepted side
  Side up_;                            // the target side (unused by echo)
  Direction to_target_;                // "up": bytes from the accepted side
  Direction to_client_;                // "down": bytes towards the accepted side
  const Clock::time_point start_;
  Clock::time_point last_activity_;
  std::string peer_;
  std::string identity_ = "-";
  bool relaying_ = false;
  bool closed_ = false;
};

void Connection::Start() {
  if (proxy_->tls_) ctx_ = proxy_->tls_->context();
  ArmDeadline(proxy_->options_.handshake_timeout, "handshake timeout");
  switch (proxy_->mode_) {
    case ProxyMode::kTunnelServer:
      ServerHandshake([this] { Dial(); });
      break;
    case ProxyMode::kTunnelClient:
      Dial();
      break;
    case ProxyMode::kEcho:
      if (ctx_) {
        ServerHandshake([this] { StartRelay(); });
      } else {
        StartRelay();
      }
      break;
  }
}

void Connection::ServerHandshake(std::function<void()> next) {
  WrapTls(down_);
  auto self = shared_from_this();
  down_.tls->async_handshake(
      ssl::stream_base::server, [this, self, next = std::move(next)](const error_code& ec) {
        if (closed_) return;
        SSL* ssl = down_.tls->native_handle();
        if (ec) {
          proxy_->refused_.fetch_add(1);
          Close(absl::StrCat("refused: handshake: ", TlsErrorText(ec, ssl)));
          return;
        }
        std::optional<pki::CertificateInfo> info;
        if (X509* cert = SSL_get0_peer_certificate(ssl)) {
          absl::StatusOr<pki::CertificateInfo> described = pki::DescribeCertificate(cert);
          if (described.ok()) info = *std::move(described);
        }
        const pki::CertificateInfo* peer = info ? &*info : nullptr;
        identity_ = DescribeIdentity(peer, proxy_->options_.trust_domain);
        if (proxy_->mode_ == ProxyMode::kTunnelServer) {
          absl::Status allowed =
              CheckAllowed(proxy_->options_.allow, peer, proxy_->options_.trust_domain);
          if (!allowed.ok()) {
            proxy_->refused_.fetch_add(1);
            Close(absl::StrCat("refused: ", std::string(allowed.message())));
            return;
          }
        }
        next();
      });
}

void Connection::Dial() {
  auto self = shared_from_this();
  resolver_.async_resolve(
      proxy_->target_.host, proxy_->target_.port,
      [this, self](const error_code& ec, const tcp::resolver::results_type& results) {
        if (closed_) return;
        if (ec) {
          Close(absl::StrCat("resolve target ", proxy_->options_.target, ": ", ec.message()));
          return;
        }
        up_.plain = std::make_unique<TcpSocket>(proxy_->io_);
        asio::async_connect(
            *up_.plain, results, [this, self](const error_code& ec, const tcp::endpoint&) {
              if (closed_) return;
              if (ec) {
                Close(absl::StrCat("connect target ", proxy_->options_.target, ": ", ec.message()));
                return;
              }
              error_code ignored;
              up_.plain->set_option(tcp::no_delay(true), ignored);
              if (proxy_->mode_ == ProxyMode::kTunnelClient) {
                ClientHandshake();
              } else {
                StartRelay();
              }
            });
      });
}

void Connection::ClientHandshake() {
  WrapTls(up_);
  SSL* ssl = up_.tls->native_handle();
  const std::string& name = proxy_->server_name_;
  error_code ec;
  asio::ip::make_address(name, ec);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, name.c_str());
    SSL_set1_host(ssl, name.c_str());
  }
  auto self = shared_from_this();
  up_.tls->async_handshake(ssl::stream_base::client, [this, self](const error_code& ec) {
    if (closed_) return;
    SSL* ssl = up_.tls->native_handle();
    if (ec) {
      Close(absl::StrCat("server handshake: ", TlsErrorText(ec, ssl)));
      return;
    }
    if (X509* cert = SSL_get0_peer_certificate(ssl)) {
      absl::StatusOr<pki::CertificateInfo> info = pki::DescribeCertificate(cert);
      if (info.ok()) identity_ = DescribeIdentity(&*info, proxy_->options_.trust_domain);
    }
    StartRelay();
  });
}

void Connection::StartRelay() {
  relaying_ = true;
  last_activity_ = Clock::now();
  ArmIdle();
  Side* target = proxy_->mode_ == ProxyMode::kEcho ? &down_ : &up_;
  to_target_ = Direction{&down_, target, "client", "target", std::vector<char>(kBufferBytes)};
  if (proxy_->mode_ == ProxyMode::kEcho) {
    to_target_.to_name = "client";
    to_client_.done = true;  // one stream, read and written back
    Read(to_target_);
    return;
  }
  to_client_ = Direction{&up_, &down_, "target", "client", std::vector<char>(kBufferBytes)};
  Read(to_target_);
  Read(to_client_);
}

void Connection::Read(Direction& d) {
  auto self = shared_from_this();
  auto handler = [this, self, &d](const error_code& ec, size_t n) {
    if (closed_) return;
    if (!ec && n > 0) {
      last_activity_ = Clock::now();
      Write(d, n);
      return;
    }
    if (IsEof(ec)) {
      EndOfStream(d);
      return;
    }
    Close(absl::StrCat("read ", d.from_name, ": ", ec.message()));
  };
  if (d.from->tls) {
    d.from->tls->async_read_some(asio::buffer(d.buffer), std::move(handler));
  } else {
    d.from->plain->async_read_some(asio::buffer(d.buffer), std::move(handler));
  }
}

void Connection::Write(Direction& d, size_t n) {
  auto self = shared_from_this();
  auto handler = [this, self, &d](const error_code& ec, size_t written) {
    if (closed_) return;
    if (ec) {
      Close(absl::StrCat("write ", d.to_name, ": ", ec.message()));
      return;
    }
    d.bytes += written;
    last_activity_ = Clock::now();
    Read(d);
  };
  if (d.to->tls) {
    asio::async_write(*d.to->tls, asio::buffer(d.buffer.data(), n), std::move(handler));
  } else {
    asio::async_write(*d.to->plain, asio::buffer(d.buffer.data(), n), std::move(handler));
  }
}

// The source finished sending: pass the half-close on (TLS close_notify, then TCP FIN) and keep
// relaying the other direction.
void Connection::EndOfStream(Direction& d) {
  if (!d.to->tls) {
    error_code ignored;
    d.to->plain->shutdown(tcp::socket::shutdown_send, ignored);
    DirectionDone(d);
    return;
  }
  auto alert = std::make_shared<std::string>(CloseNotifyBytes(d.to->tls->native_handle()));
  if (alert->empty()) {
    error_code ignored;
    d.to->lowest().shutdown(tcp::socket::shutdown_send, ignored);
    DirectionDone(d);
    return;
  }
  auto self = shared_from_this();
  asio::async_write(d.to->lowest(), asio::buffer(*alert),
                    [this, self, &d, alert](const error_code& ec, size_t) {
                      if (closed_) return;
                      error_code ignored;
                      if (!ec) d.to->lowest().shutdown(tcp::socket::shutdown_send, ignored);
                      DirectionDone(d);
                    });
}

void Connection::DirectionDone(Direction& d) {
  d.done = true;
  if (to_target_.done && to_client_.done) Close("eof");
}

void Connection::ArmDeadline(absl::Duration d, std::string reason) {
  timer_.expires_after(absl::ToChronoMilliseconds(d));
  auto self = shared_from_this();
  timer_.async_wait([this, self, reason = std::move(reason)](const error_code& ec) {
    if (ec || closed_ || relaying_) return;
    if (proxy_->mode_ == ProxyMode::kTunnelServer || proxy_->mode_ == ProxyMode::kEcho) {
      proxy_->refused_.fetch_add(1);
    }
    Close(reason);
  });
}

void Connection::ArmIdle() {
  const auto idle = absl::ToChronoMilliseconds(proxy_->options_.idle_timeout);
  timer_.expires_at(last_activity_ + idle);
  auto self = shared_from_this();
  timer_.async_wait([this, self, idle](const error_code& ec) {
    if (ec || closed_) return;
    if (Clock::now() - last_activity_ >= idle) {
      Close("idle");
    } else {
      ArmIdle();
    }
  });
}

void Connection::Close(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  error_code ignored;
  timer_.cancel(ignored);
  resolver_.cancel();
  for (Side* side : {&down_, &up_}) {
    if (side->open()) side->lowest().close(ignored);
  }
  proxy_->Finished(id_);
  double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  spdlog::info("{} conn={} peer={} identity=\"{}\" up={} down={} duration={:.3f}s close={}",
               proxy_->options_.name, id_, peer_, identity_, to_target_.bytes, to_client_.bytes,
               seconds, reason);
}

absl::Status Proxy::Impl::Init() {
  const TunnelOptions& o = options_;
  absl::StatusOr<HostPort> listen = SplitHostPort(o.listen, "listen", /*allow_zero=*/true);
  if (!listen.ok()) return listen.status();
  if (mode_ != ProxyMode::kEcho) {
    absl::StatusOr<HostPort> target = SplitHostPort(o.target, "target", /*allow_zero=*/false);
    if (!target.ok()) return target.status();
    target_ = *target;
    server_name_ = o.server_name.empty() ? target_.host : o.server_name;
  }
  if (mode_ == ProxyMode::kTunnelServer) {
    if (absl::Status allow = ValidateAllowList(o.allow); !allow.ok()) return allow;
  }
  if (o.max_connections < 1) return absl::InvalidArgumentError("max_connections: must be >= 1");
  if (o.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("idle_timeout: must be positive");
  }
  if (o.handshake_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("handshake_timeout: must be positive");
  }
  if (o.reload_interval < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError("reload_interval: must be at least 100ms");
  }
  bool want_tls = mode_ != ProxyMode::kEcho || !o.files.cert.empty() || !o.files.key.empty();
  if (want_tls) {
    if (o.files.cert.empty()) return absl::InvalidArgumentError("cert: required");
    if (o.files.key.empty()) return absl::InvalidArgumentError("key: required");
    if (mode_ == ProxyMode::kTunnelClient && o.files.ca.empty()) {
      return absl::InvalidArgumentError("ca: required (the server is verified against it)");
    }
    if (mode_ != ProxyMode::kTunnelClient && o.client_auth != tls::ClientAuth::kNone &&
        o.files.ca.empty()) {
      return absl::InvalidArgumentError("ca: required to verify client certificates");
    }
    if (!o.allow.empty() && o.client_auth == tls::ClientAuth::kNone) {
      return absl::InvalidArgumentError(
          "allow-lists need client certificates (client_auth must not be \"none\")");
    }
    tls::TlsContextSource::Options t;
    t.files = o.files;
    t.role = mode_ == ProxyMode::kTunnelClient ? tls::TlsRole::kClient : tls::TlsRole::kServer;
    t.client_auth = o.client_auth;
    absl::StatusOr<std::unique_ptr<tls::TlsContextSource>> source = tls::TlsContextSource::New(t);
    if (!source.ok()) return source.status();
    tls_ = *std::move(source);
  } else if (!o.files.ca.empty()) {
    return absl::InvalidArgumentError("client CA given without a certificate and key");
  }

  error_code ec;
  tcp::resolver resolver(io_);
  tcp::resolver::results_type endpoints =
      resolver.resolve(listen->host, listen->port, tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen: cannot resolve '", o.listen, "': ", ec.message()));
  }
  tcp::endpoint ep = *endpoints.begin();
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("listen: cannot listen on ", o.listen, ": ", ec.message()));
  }
  address_ = EndpointText(acceptor_.local_endpoint(ec));
  Accept();
  if (tls_) PollFiles();
  return absl::OkStatus();
}

void Proxy::Impl::Accept() {
  acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE and friends: back off briefly instead of spinning on the error.
      spdlog::warn("{}: accept: {}", options_.name, ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([this](const error_code& ec) {
        if (!ec && !stopping_) Accept();
      });
      return;
    }
    accepted_.fetch_add(1);
    uint64_t id = next_id_++;
    if (active_.load() >= static_cast<uint64_t>(options_.max_connections)) {
      refused_.fetch_add(1);
      error_code ignored;
      spdlog::info(
          "{} conn={} peer={} identity=\"-\" up=0 down=0 duration=0.000s "
          "close=refused: connection limit ({})",
          options_.name, id, EndpointText(socket.remote_endpoint(ignored)),
          options_.max_connections);
      socket.close(ignored);
      Accept();
      return;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto conn = std::make_shared<Connection>(this, id, std::move(socket));
    conns_[id] = conn;
    active_.fetch_add(1);
    conn->Start();
    Accept();
  });
}

void Proxy::Impl::ReportReload(const absl::Status& s, uint64_t ok_before) {
  std::lock_guard<std::mutex> lock(reload_log_mu_);
  if (!s.ok()) {
    std::string message(s.message());
    if (message != last_reload_error_) {
      spdlog::error("{}: new TLS files refused, still serving the previous set: {}", options_.name,
                    message);
      last_reload_error_ = message;
    }
    return;
  }
  last_reload_error_.clear();
  if (tls_->reloads_ok() != ok_before) {
    const auto& leaf = tls_->credentials()->leaf;
    spdlog::info(
        "{}: TLS files reloaded: serial {} subject {} (new connections use them; open "
        "ones keep theirs)",
        options_.name, leaf.serial_hex, leaf.subject);
  }
}

void Proxy::Impl::PollFiles() {
  reload_timer_.expires_after(absl::ToChronoMilliseconds(options_.reload_interval));
  reload_timer_.async_wait([this](const error_code& ec) {
    if (ec || stopping_) return;
    uint64_t before = tls_->reloads_ok();
    ReportReload(tls_->Refresh(), before);
    PollFiles();
  });
}

absl::Status Proxy::Impl::Reload() {
  if (!tls_) return absl::OkStatus();
  uint64_t before = tls_->reloads_ok();
  absl::Status s = tls_->Refresh(/*force=*/true);
  ReportReload(s, before);
  return s;
}

void Proxy::Impl::Stop() {
  if (stopped_.exchange(true)) return;
  asio::post(io_, [this] {
    stopping_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    reload_timer_.cancel(ignored);
    retry_timer_.cancel(ignored);
    std::vector<std::shared_ptr<Connection>> open;
    for (auto& [id, weak] : conns_) {
      if (auto c = weak.lock()) open.push_back(std::move(c));
    }
    for (auto& c : open) c->Close("shutdown");
  });
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::unique_ptr<Proxy>> Proxy::Start(ProxyMode mode, const TunnelOptions& options) {
  auto impl = std::make_shared<Impl>(mode, options);
  if (absl::Status s = impl->Init(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(options.name, ": ", s.message()));
  }
  impl->Run();
  return std::unique_ptr<Proxy>(new Proxy(std::move(impl)));
}

Proxy::~Proxy() { Stop(); }
const std::string& Proxy::address() const { return impl_->address(); }
absl::Status Proxy::Reload() { return impl_->Reload(); }
void Proxy::Stop() { impl_->Stop(); }
ProxyStats Proxy::stats() const { return impl_->stats(); }

}  // namespace nodegate::tunnel::internal
