#include "http/https_server.h"

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "observe/handshake_log.h"
#include "spdlog/spdlog.h"
#include "tls/handshake_failure.h"
#include "tls/ssl_context.h"

namespace nodegate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

// What the listener answers itself (before any handler: malformed or oversized requests, a full
// queue, a handler that threw), in the same JSON shape as the gateway's errors
// (docs/console.md: "Errors are JSON"). The messages are fixed ASCII, so no escaping is needed.
HttpResponse EdgeError(int status, std::string_view message) {
  const char* code = status == 400   ? "INVALID_ARGUMENT"
                     : status == 503 ? "UNAVAILABLE"
                     : status == 500 ? "INTERNAL"
                                     : "RESOURCE_EXHAUSTED";  // 413, 431
  return HttpResponse{
      status,
      "application/json",
      absl::StrCat("{\"error\":\"", absl::string_view(message.data(), message.size()),
                   "\",\"code\":\"", code, "\"}"),
      {}};
}

// What a peer can trip; one counter and one log rate limit each.
enum Trip : int {
  kOverMaxConnections,
  kAcceptError,
  kHandshakeFailed,
  kHandshakeTimeout,
  kHeaderTimeout,
  kRequestTimeout,
  kWriteTimeout,
  kHeaderTooLarge,
  kBodyTooLarge,
  kBadRequest,
  kQueueFull,
  kTripCount,
};
constexpr const char* kTripNames[kTripCount] = {
    "max_connections", "accept_error",    "handshake_failed", "handshake_timeout",
    "header_timeout",  "request_timeout", "write_timeout",    "header_too_large",
    "body_too_large",  "bad_request",     "queue_full",
};

// Shared with the metrics callbacks, which may outlive the server.
struct Counters {
  std::atomic<uint64_t> trips[kTripCount] = {};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> active{0};
  std::atomic<uint64_t> requests{0};
};

// A flood of bad peers must not become a flood of log lines: at most one line a second per kind;
// the lines held back are counted in the next one.
class TripLog {
 public:
  explicit TripLog(std::string name) : name_(std::move(name)) {}
  void Write(Trip kind, std::string_view detail) {
    const int64_t now = Clock::now().time_since_epoch().count();
    int64_t next = next_[kind].load(std::memory_order_relaxed);
    if (now < next || !next_[kind].compare_exchange_strong(
                          next, now + std::chrono::nanoseconds(std::chrono::seconds(1)).count())) {
      held_[kind].fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const uint64_t held = held_[kind].exchange(0, std::memory_order_relaxed);
    spdlog::warn("{}: {}: {}{}", name_, kTripNames[kind], std::string(detail),
                 held == 0 ? std::string() : absl::StrCat(" (+", held, " not logged)"));
  }

 private:
  const std::string name_;
  std::atomic<int64_t> next_[kTripCount] = {};
  std::atomic<uint64_t> held_[kTripCount] = {};
};

// A fixed set of threads behind a bounded queue: the handlers' blocking work (SQLite, a gRPC call
// to the node itself) never runs on the I/O thread, and a burst beyond the queue is refused rather
// than buffered without bound.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t depth) : depth_(depth) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Stop(); }

  // False when `depth` tasks are already waiting.
  bool TrySubmit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ || queue_.size() >= depth_) return false;
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }

  // Drops what is still queued and waits for the running tasks.
  void Stop() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      dropped.swap(queue_);
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const size_t depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX only: '+' stays '+', as cpp-httplib (which this server replaced) decoded paths and queries,
// so console routes and their clients see the same strings as before.
std::string PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

}  // namespace

void ParseTarget(std::string_view target, std::string* path,
                 std::multimap<std::string, std::string>* query) {
  const size_t q = target.find('?');
  *path = PercentDecode(target.substr(0, q));
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    query->emplace(PercentDecode(pair.substr(0, eq)), eq == std::string_view::npos
                                                          ? std::string()
                                                          : PercentDecode(pair.substr(eq + 1)));
  }
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

class Session;

class HttpsServer::Impl {
 public:
  Impl(HttpsServerOptions options, Handler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        counters_(std::make_shared<Counters>()),
        log_(options_.name),
        acceptor_(io_),
        backoff_(io_) {}

  absl::Status Listen();
  void Run();
  void Stop();
  void Accept();

  HttpsServerOptions options_;
  Handler handler_;
  std::unique_ptr<tls::SslContextFollower> tls_;
  std::shared_ptr<Counters> counters_;
  TripLog log_;
  // Open sessions, so that Stop() can close their sockets. Guarded: a session may be destroyed on a
  // worker thread when its handler's response is the last reference.
  std::mutex sessions_mu_;
  std::unordered_set<Session*> sessions_;
  // Declared before everything that holds I/O objects: destroyed last, after the sessions its
  // queued handlers own.
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  std::unique_ptr<WorkerPool> pool_;
  std::thread io_thread_;
  std::string address_;
  std::atomic<bool> stopped_{false};

  void Count(Trip kind, std::string_view detail) {
    counters_->trips[kind].fetch_add(1, std::memory_order_relaxed);
    log_.Write(kind, detail);
  }
};

// One connection: TLS handshake, then request after request (keep-alive), each read under its
// deadlines and limits, handed to the worker pool, answered on the I/O thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpsServer::Impl* server, tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx,
          std::string remote)
      : server_(server),
        counters_(server->counters_),
        ctx_(std::move(ctx)),
        stream_(std::move(socket), *ctx_),
        buffer_(server->options_.limits.max_header_bytes + 65536),
        remote_(std::move(remote)) {
    counters_->active.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(server_->sessions_mu_);
    server_->sessions_.insert(this);
  }
  ~Session() {
    counters_->active.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(server_->sessions_mu_);
    server_->sessions_.erase(this);
  }

  void Start() {
    error_code ec;
    beast::get_lowest_layer(stream_).socket().set_option(tcp::no_delay(true), ec);
    beast::get_lowest_layer(stream_).expires_after(Limit(limits().handshake_timeout));
    // The first bytes tell a TLS ClientHello from plain HTTP (answered as nginx does) or other
    // cleartext; they are then handed to the handshake.
    beast::get_lowest_layer(stream_).async_read_some(
        asio::buffer(first_),
        [self = shared_from_this()](error_code ec, size_t n) { self->OnFirstBytes(ec, n); });
  }

  // I/O thread only.
  void Abort() {
    error_code ec;
    beast::get_lowest_layer(stream_).socket().close(ec);
  }

 private:
  const HttpsLimits& limits() const { return server_->options_.limits; }
  static Clock::duration Limit(absl::Duration d) {
    return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
  }

  void OnFirstBytes(error_code ec, size_t n) {
    if (ec) {
      if (ec == beast::error::timeout) {
        server_->Count(kHandshakeTimeout, remote_);
      } else {  // closed before a byte (a port probe): counted, not a refusal worth a line
        server_->Count(kHandshakeFailed, absl::StrCat(remote_, ": ", ec.message()));
      }
      return;
    }
    const std::string_view bytes(first_.data(), n);
    const tls::FirstBytes kind = tls::ClassifyFirstBytes(bytes);
    if (kind == tls::FirstBytes::kTls) {
      stream_.async_handshake(
          asio::ssl::stream_base::server, asio::buffer(first_.data(), n),
          [self = shared_from_this()](error_code ec, size_t) { self->OnHandshake(ec); });
      return;
    }
    tls::HandshakeFailure f;
    f.reason = tls::HandshakeReason::kPlaintext;
    f.detail = kind == tls::FirstBytes::kHttp1        ? "a plain HTTP request"
               : kind == tls::FirstBytes::kH2cPreface ? "cleartext HTTP/2 (h2c)"
                                                      : "bytes that are not TLS";
    Refused(f);
    if (kind != tls::FirstBytes::kHttp1) return;  // closed: nothing it would understand
    reply_ = tls::PlainHttpOnTlsPortResponse();
    beast::get_lowest_layer(stream_).expires_after(Limit(limits().write_timeout));
    asio::async_write(beast::get_lowest_layer(stream_), asio::buffer(reply_),
                      [self = shared_from_this()](error_code ec, size_t) {
                        if (ec) return;
                        error_code ignored;
                        beast::get_lowest_layer(self->stream_)
                            .socket()
                            .shutdown(tcp::socket::shutdown_send, ignored);
                        self->Drain();
                      });
  }

  // After the 400: reads what the client still sends until it closes (bounded by the deadline),
  // so that closing does not reset the connection before the client has read the answer.
  void Drain() {
    beast::get_lowest_layer(stream_).async_read_some(
        asio::buffer(first_), [self = shared_from_this()](error_code ec, size_t) {
          if (!ec) self->Drain();
        });
  }

  void Refused(const tls::HandshakeFailure& f) {
    if (server_->options_.handshake_log == nullptr) {
      server_->Count(kHandshakeFailed,
                     absl::StrCat(remote_, ": ", std::string(tls::HandshakeReasonWords(f.reason))));
      return;
    }
    // Counted as a trip; the line is the handshake log's (with the certificate), not a second one.
    counters_->trips[kHandshakeFailed].fetch_add(1, std::memory_order_relaxed);
    observe::HandshakeRefusal r;
    r.listener = server_->options_.name;
    r.peer = remote_;
    r.reason = std::string(tls::HandshakeReasonLabel(f.reason));
    r.words = std::string(tls::HandshakeReasonWords(f.reason));
    r.subject = f.subject;
    r.serial = f.serial;
    r.detail = f.detail;
    server_->options_.handshake_log->Record(r, absl::Now());
  }

  void OnHandshake(error_code ec) {
    if (ec) {
      if (ec == beast::error::timeout) {
        server_->Count(kHandshakeTimeout, remote_);
      } else {
        const unsigned long err = ec.category() == asio::error::get_ssl_category()
                                      ? static_cast<unsigned long>(ec.value())
                                      : 0;
        Refused(tls::DescribeHandshakeFailure(stream_.native_handle(), err));
      }
      return;
    }
    peer_ = tls::PeerIdentityFromSsl(stream_.native_handle());
    ReadHeader();
  }

  // Keep-alive: wait (idle_timeout) for the first byte of the next request; the header deadline
  // starts with it, so an idle connection is not a slow one.
  void WaitForRequest() {
    if (buffer_.size() > 0) return ReadHeader();  // pipelined
    beast::get_lowest_layer(stream_).expires_after(Limit(limits().idle_timeout));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              if (ec) return;  // idle expiry or the peer closed: not a trip
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(limits().max_header_bytes));
    parser_->body_limit(limits().max_body_bytes);
    request_start_ = Clock::now();
    beast::get_lowest_layer(stream_).expires_at(
        request_start_ + Limit(std::min(limits().header_timeout, limits().request_timeout)));
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec, /*header=*/true); });
  }

  void ReadBody() {
    beast::get_lowest_layer(stream_).expires_at(request_start_ + Limit(limits().request_timeout));
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec, /*header=*/false); });
  }

  void OnRead(error_code ec, bool header) {
    if (ec == beast::error::timeout) {
      const bool head_slow = header && limits().header_timeout <= limits().request_timeout;
      server_->Count(head_slow ? kHeaderTimeout : kRequestTimeout, remote_);
      return;  // the stream closed the socket
    }
    if (ec == bhttp::error::header_limit) {
      server_->Count(kHeaderTooLarge, remote_);
      return Refuse(431, "request header too large");
    }
    if (ec == bhttp::error::body_limit) {
      server_->Count(kBodyTooLarge, remote_);
      return Refuse(413, "request body too large");
    }
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      server_->Count(kBadRequest, absl::StrCat(remote_, ": ", ec.message()));
      return Refuse(400, "bad request: malformed HTTP");
    }
    if (ec) return;  // the peer went away
    if (header && !parser_->is_done()) {
      // curl waits a second for this before sending a large body.
      if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
        auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                         parser_->get().version());
        beast::get_lowest_layer(stream_).expires_after(Limit(limits().write_timeout));
        bhttp::async_write(stream_, *cont,
                           [self = shared_from_this(), cont](error_code ec, size_t) {
                             if (!ec) self->ReadBody();
                           });
        return;
      }
      return ReadBody();
    }
    Dispatch();
  }

  void Dispatch() {
    bhttp::request<bhttp::string_body> req = parser_->release();
    parser_.reset();
    // No deadline while the handler runs: nothing is read, and the worker queue bounds the wait.
    beast::get_lowest_layer(stream_).expires_never();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    HttpRequest in;
    in.method = std::string(req.method_string());
    const beast::string_view target = req.target();
    ParseTarget(std::string_view(target.data(), target.size()), &in.path, &in.query);
    for (const auto& field : req) {
      in.headers.emplace(absl::AsciiStrToLower(std::string(field.name_string())),
                         std::string(field.value()));
    }
    in.body = std::move(req.body());
    in.peer = peer_;
    in.remote = remote_;
    server_->counters_->requests.fetch_add(1, std::memory_order_relaxed);
    HttpsServer::Impl* server = server_;
    const bool queued =
        server->pool_->TrySubmit([self = shared_from_this(), server, in = std::move(in)]() mutable {
          HttpResponse out;
          try {
            out = server->handler_(std::move(in));
          } catch (const std::exception& e) {
            spdlog::error("{}: handler: {}", server->options_.name, e.what());
            out = EdgeError(500, "internal error");
          } catch (...) {
            out = EdgeError(500, "internal error");
          }
          asio::post(server->io_, [self = std::move(self), out = std::move(out)]() mutable {
            self->Write(std::move(out), !self->keep_alive_);
          });
        });
    if (!queued) {
      server->Count(kQueueFull, remote_);
      Refuse(503, "busy, try again");
    }
  }

  void Refuse(int status, std::string_view message) {
    Write(EdgeError(status, message), /*close=*/true);
  }

  void Write(HttpResponse out, bool close) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(out.status));
    if (!out.content_type.empty()) res->set(bhttp::field::content_type, out.content_type);
    for (const auto& [name, value] : out.headers) res->insert(name, value);
    res->body() = std::move(out.body);
    res->keep_alive(!close);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(Limit(limits().write_timeout));
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res, close](error_code ec, size_t) {
                         if (ec == beast::error::timeout) {
                           self->server_->Count(kWriteTimeout, self->remote_);
                           return;
                         }
                         if (ec) return;
                         if (close) return self->Shutdown();
                         self->WaitForRequest();
                       });
  }

  // close_notify, bounded: a peer that never answers it costs at most a second.
  void Shutdown() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(1));
    stream_.async_shutdown([self = shared_from_this()](error_code) {
      beast::get_lowest_layer(self->stream_).close();
    });
  }

  HttpsServer::Impl* const server_;
  const std::shared_ptr<Counters> counters_;
  const std::shared_ptr<asio::ssl::context> ctx_;  // outlives stream_
  beast::ssl_stream<beast::tcp_stream> stream_;
  std::array<char, 4096> first_{};  // the connection's first bytes (then the drain after a 400)
  std::string reply_;               // the 400 for plain HTTP
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Clock::time_point request_start_;
  const std::string remote_;
  tls::PeerIdentity peer_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
};

absl::Status HttpsServer::Impl::Listen() {
  const std::string field = options_.name + ".listen";
  absl::StatusOr<std::pair<std::string, int>> hp = SplitHostPort(options_.listen, field);
  if (!hp.ok()) return hp.status();
  const auto& [host, port] = *hp;
  error_code ec;
  tcp::resolver resolver(io_);
  tcp::resolver::results_type endpoints = resolver.resolve(
      host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": cannot resolve '", host, "': ", ec.message()));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  auto fail = [&](const error_code& e) {
    return absl::UnavailableError(
        absl::StrCat(field, ": cannot listen on ", options_.listen, ": ", e.message()));
  };
  if (acceptor_.open(endpoint.protocol(), ec); ec) return fail(ec);
  // SO_REUSEADDR only (a restart binds past TIME_WAIT). Never SO_REUSEPORT: with it a second node
  // configured with the same address would bind too and silently take half the connections.
  if (acceptor_.set_option(tcp::acceptor::reuse_address(true), ec); ec) return fail(ec);
  if (acceptor_.bind(endpoint, ec); ec) return fail(ec);
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) return fail(ec);
  const tcp::endpoint bound = acceptor_.local_endpoint(ec);
  if (ec) return fail(ec);
  address_ = absl::StrCat(host.find(':') != std::string::npos ? "[" + host + "]" : host, ":",
                          bound.port());
  return absl::OkStatus();
}

void HttpsServer::Impl::Accept() {
  acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
    if (stopped_.load() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: the pending connection stays in the backlog. Back off and keep
      // accepting; a stopped accept loop would be a half-dead node.
      Count(kAcceptError, ec.message());
      backoff_.expires_after(std::chrono::milliseconds(100));
      backoff_.async_wait([this](error_code e) {
        if (!e && !stopped_.load()) Accept();
      });
      return;
    }
    counters_->accepted.fetch_add(1, std::memory_order_relaxed);
    error_code ignored;
    const tcp::endpoint remote = socket.remote_endpoint(ignored);
    std::string who = absl::StrCat(remote.address().to_string(ignored), ":", remote.port());
    if (counters_->active.load(std::memory_order_relaxed) >= options_.limits.max_connections) {
      Count(kOverMaxConnections, who);
      socket.close(ignored);
    } else {
      std::make_shared<Session>(this, std::move(socket), tls_->context(), std::move(who))->Start();
    }
    Accept();
  });
}

void HttpsServer::Impl::Run() {
  // Nothing here throws on purpose (every operation takes an error_code); the loop keeps the
  // listener alive if something in Asio or OpenSSL does anyway.
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("{}: I/O loop: {}", options_.name, e.what());
    }
  }
}

void HttpsServer::Impl::Stop() {
  if (stopped_.exchange(true)) return;
  asio::post(io_, [this] {
    error_code ec;
    acceptor_.close(ec);
    backoff_.cancel();
    std::lock_guard<std::mutex> lock(sessions_mu_);
    for (Session* s : sessions_) s->Abort();
    // The aborted operations' handlers are dropped with io_; their sockets are closed already.
    io_.stop();
  });
  if (io_thread_.joinable()) io_thread_.join();
  if (pool_) pool_->Stop();
}

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Start(HttpsServerOptions options,
                                                                Handler handler) {
  const std::string& n = options.name;
  const HttpsLimits& l = options.limits;
  if (!handler) return absl::InvalidArgumentError(n + ": no handler");
  if (l.max_connections < 1)
    return absl::InvalidArgumentError(n + ".max_connections: must be >= 1");
  for (const auto& [field, d] :
       {std::pair<const char*, absl::Duration>{"handshake_timeout", l.handshake_timeout},
        {"header_timeout", l.header_timeout},
        {"request_timeout", l.request_timeout},
        {"idle_timeout", l.idle_timeout},
        {"write_timeout", l.write_timeout}}) {
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(n, ".", field, ": must be positive"));
    }
  }
  if (l.max_header_bytes < 1024 || l.max_header_bytes > (1u << 20)) {
    return absl::InvalidArgumentError(n + ".max_header_bytes: must be in 1024..1048576");
  }
  if (l.workers < 1 || l.workers > 64) {
    return absl::InvalidArgumentError(n + ".workers: must be in 1..64");
  }
  if (l.queue_depth < 1) return absl::InvalidArgumentError(n + ".queue_depth: must be >= 1");

  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  absl::StatusOr<std::unique_ptr<tls::SslContextFollower>> follower = tls::SslContextFollower::New(
      impl->options_.credentials, impl->options_.client_auth, impl->options_.name);
  if (!follower.ok()) return follower.status();
  impl->tls_ = *std::move(follower);
  if (absl::Status listening = impl->Listen(); !listening.ok()) return listening;

  if (impl->options_.metrics != nullptr) {
    std::shared_ptr<Counters> c = impl->counters_;
    impl->options_.metrics->AddCallback(
        absl::StrCat("nodegate_", impl->options_.name, "_edge_trips_total"),
        "HTTPS listener limit trips by kind (docs/config.md).", "counter", [c] {
          std::vector<observe::Metrics::Sample> out;
          out.reserve(kTripCount);
          for (int k = 0; k < kTripCount; ++k) {
            out.push_back({absl::StrCat("kind=\"", kTripNames[k], "\""),
                           static_cast<double>(c->trips[k].load(std::memory_order_relaxed))});
          }
          return out;
        });
    impl->options_.metrics->AddCallback(
        absl::StrCat("nodegate_", impl->options_.name, "_edge_connections"),
        "Open HTTPS connections.", "gauge", [c] {
          return std::vector<observe::Metrics::Sample>{
              {"", static_cast<double>(c->active.load(std::memory_order_relaxed))}};
        });
  }

  impl->pool_ = std::make_unique<WorkerPool>(impl->options_.limits.workers,
                                             impl->options_.limits.queue_depth);
  impl->Accept();
  Impl* raw = impl.get();
  impl->io_thread_ = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

HttpsServer::~HttpsServer() { Stop(); }

void HttpsServer::Stop() { impl_->Stop(); }

const std::string& HttpsServer::address() const { return impl_->address_; }

HttpsServerStats HttpsServer::stats() const {
  const Counters& c = *impl_->counters_;
  auto trip = [&c](Trip k) { return c.trips[k].load(std::memory_order_relaxed); };
  HttpsServerStats s;
  s.accepted = c.accepted.load(std::memory_order_relaxed);
  s.active = c.active.load(std::memory_order_relaxed);
  s.requests = c.requests.load(std::memory_order_relaxed);
  s.over_max_connections = trip(kOverMaxConnections);
  s.accept_errors = trip(kAcceptError);
  s.handshake_failed = trip(kHandshakeFailed);
  s.handshake_timeout = trip(kHandshakeTimeout);
  s.header_timeout = trip(kHeaderTimeout);
  s.request_timeout = trip(kRequestTimeout);
  s.write_timeout = trip(kWriteTimeout);
  s.header_too_large = trip(kHeaderTooLarge);
  s.body_too_large = trip(kBodyTooLarge);
  s.bad_request = trip(kBadRequest);
  s.queue_full = trip(kQueueFull);
  return s;
}

}  // namespace nodegate::http
