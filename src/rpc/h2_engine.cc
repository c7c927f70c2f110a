#include "rpc/h2_engine.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "observe/handshake_log.h"
#include "rpc/grpc_wire.h"
#include "rpc/server_core.h"
#include "spdlog/spdlog.h"
#include "tls/handshake_failure.h"
#include "tls/ssl_context.h"

namespace nodegate::rpc {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr size_t kReadBufferBytes = 16 << 10;
constexpr int kMaxReadsPerTurn = 64;
// After our last byte, how long a connection reads (and drops) what the peer still sends before
// it closes anyway (Connection::Linger).
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr int32_t kStreamWindowBytes = 1 << 20;      // SETTINGS_INITIAL_WINDOW_SIZE
constexpr int32_t kConnectionWindowBytes = 4 << 20;  // the connection's receive window
// nghttp2's rapid-reset guard (CVE-2023-44487): streams a peer may reset in a burst, then per
// second; past it the session ends with GOAWAY. The values nghttp2 1.57 made its default.
constexpr uint64_t kResetBurst = 1000;
constexpr uint64_t kResetRate = 33;

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

bool IsLoopback(const asio::ip::address& a) {
  if (a.is_loopback()) return true;
  return a.is_v6() && a.to_v6().is_v4_mapped() &&
         asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
}

std::string PeerAddress(const tcp::endpoint& e) {
  const asio::ip::address a = e.address();
  if (a.is_v4()) return absl::StrCat("ipv4:", a.to_string(), ":", e.port());
  return absl::StrCat("ipv6:[", a.to_string(), "]:", e.port());
}

nghttp2_nv Header(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

// A header block for nghttp2: the views it submits (it copies them), and the storage for the
// values that had to be made (status digits, the percent-encoded message, base64 of "-bin").
class HeaderBlock {
 public:
  void Add(std::string_view name, std::string_view value) { nva_.push_back(Header(name, value)); }
  void AddMade(std::string_view name, std::string value) {
    made_.push_back(std::move(value));  // a deque: earlier values stay where they are
    nva_.push_back(Header(name, made_.back()));
  }
  void AddMetadata(const std::vector<std::pair<std::string, std::string>>& metadata) {
    for (const auto& [key, value] : metadata) {
      if (IsBinaryHeader(key)) {
        AddMade(key, EncodeBinaryHeader(value));
      } else {
        Add(key, value);
      }
    }
  }
  void AddStatus(const grpc::Status& status) {
    AddMade("grpc-status", std::to_string(static_cast<int>(status.error_code())));
    std::string message = PercentEncode(status.error_message());
    if (!message.empty()) AddMade("grpc-message", std::move(message));
  }
  const nghttp2_nv* data() const { return nva_.data(); }
  size_t size() const { return nva_.size(); }

 private:
  std::deque<std::string> made_;
  std::vector<nghttp2_nv> nva_;
};

// A message's bytes, in one piece.
std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

// ALPN: this engine speaks gRPC, so HTTP/2 only. A client that offers no "h2" is refused in the
// handshake (no_application_protocol alert), as grpc-go's server does.
int SelectH2(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
             const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  static constexpr unsigned char kH2[] = {2, 'h', '2'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kH2, sizeof(kH2), in, inlen) !=
          OPENSSL_NPN_NEGOTIATED ||
      *outlen != 2 || std::string_view(reinterpret_cast<const char*>(selected), 2) != "h2") {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

struct Loop {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread;
};

class Connection;
class Call;

// The response side of one call: what handlers write (from the loop or any other thread) and
// what nghttp2 reads when it may send. Guarded by `mu`; the loop is kicked when there is news.
class Outbox final : public Stream {
 public:
  Outbox(std::weak_ptr<Connection> conn, asio::io_context* io, int32_t id, size_t max_send)
      : conn_(std::move(conn)), io_(io), id_(id), max_send_(max_send) {}

  void Write(grpc::ByteBuffer message) override;
  void Finish(absl::Status status) override { FinishWith(ToGrpc(status)); }
  bool done() const override {
    std::lock_guard<std::mutex> lock(mu);
    return ended || finish_requested;
  }

  // Appends one serialized message; false (and nothing written) once finished or ended, or when
  // it is over max_send (the call is then finished RESOURCE_EXHAUSTED).
  bool WriteBytes(std::string_view message);
  void FinishWith(grpc::Status status);
  // The loop learns of news: posted unless the loop is inside this connection's read already.
  void Kick();

  mutable std::mutex mu;
  std::string data;   // framed messages nghttp2 has not taken yet
  size_t offset = 0;  // of `data`, already taken
  bool finish_requested = false;
  grpc::Status status;
  bool ended = false;         // the stream is closed: everything is dropped
  bool initial_sent = false;  // response headers submitted: initial metadata is fixed
  bool trailers_sent = false;
  bool deferred = false;  // nghttp2 was told there is nothing yet (NGHTTP2_ERR_DEFERRED)
  bool kick_posted = false;
  std::vector<std::pair<std::string, std::string>> initial;
  std::vector<std::pair<std::string, std::string>> trailing;

 private:
  const std::weak_ptr<Connection> conn_;
  asio::io_context* const io_;
  const int32_t id_;
  const size_t max_send_;
};

// One stream: the request as it arrives, the decision, the handler's state, the outbox.
class Call final : public ResponseMetadata {
 public:
  Call(int32_t id, std::shared_ptr<Outbox> outbox, SteadyTime now)
      : id(id), outbox(std::move(outbox)), begun(now), start(now) {}

  void AddInitial(std::string_view key, std::string_view value) override {
    if (!internal::LegalResponseMetadata(key, value)) return Illegal(key);
    std::lock_guard<std::mutex> lock(outbox->mu);
    if (!outbox->initial_sent) outbox->initial.emplace_back(key, value);
  }
  void AddTrailing(std::string_view key, std::string_view value) override {
    if (!internal::LegalResponseMetadata(key, value)) return Illegal(key);
    std::lock_guard<std::mutex> lock(outbox->mu);
    if (!outbox->trailers_sent) outbox->trailing.emplace_back(key, value);
  }
  void Illegal(std::string_view key) const {
    // The key is not logged: a handler may have taken it from the caller.
    spdlog::warn("{}: handler metadata dropped (illegal key or value, {} byte key)", path,
                 key.size());
  }

  const int32_t id;
  const std::shared_ptr<Outbox> outbox;
  const SteadyTime begun;  // HEADERS began (header deadline)
  SteadyTime start;

  // Request headers.
  std::vector<std::pair<std::string, std::string>> headers;  // regular headers, in order
  size_t header_bytes = 0;
  bool headers_too_large = false;
  bool headers_done = false;
  std::string method, path, authority, content_type, user_agent, timeout, encoding;
  CallInfo::Metadata metadata;  // views into `headers`, built once they are complete
  absl::Time deadline = absl::InfiniteFuture();

  // Request body.
  std::optional<MessageReader> reader;
  std::vector<std::string> messages;  // complete, not yet handed to a handler
  size_t held_bytes = 0;              // counted against the connection's max_buffered_bytes
  bool half_closed = false;           // the client's END_STREAM arrived

  // Decision and dispatch.
  bool deciding = false;  // waiting for a deferred decision
  bool decided = false;
  auth::Decision decision;
  std::string shed_reason;
  const MethodTable::Method* entry = nullptr;
  bool dispatched = false;  // unary: the handler has been started
  // Both guarded by outbox->mu. A unary handler on a worker may still run when the stream ends
  // (the client's deadline, a cancel): the call is then recorded when the handler returns, as
  // engine grpc records it, so that its code and duration say what the handler did.
  bool handler_running = false;
  bool record_when_handler_returns = false;
  bool streaming = false;
  bool counted = false;  // holds one of max_streams
  std::unique_ptr<StreamHandler> handler;
  std::unique_ptr<asio::steady_timer> deadline_timer;  // streaming calls with a deadline

  // Response.
  bool response_submitted = false;
  bool status_sent = false;  // the frame with our status (and END_STREAM) went out
  bool closed = false;
};

// One accepted connection, on one loop: TLS (or loopback h2c), then an nghttp2 server session.
class Connection final : public std::enable_shared_from_this<Connection> {
 public:
  Connection(H2Engine::Impl* engine, int endpoint, asio::io_context* io, tcp::socket socket,
             std::shared_ptr<asio::ssl::context> ctx);
  ~Connection();

  void Start();
  // An outbox has news (loop thread): its response is submitted to nghttp2, and with `flush`
  // written out. During a read the id is only queued; the read submits and flushes them all.
  void Kick(int32_t id, bool flush);
  void QueueKick(int32_t id) { kicks_.push_back(id); }
  void BeginDrain();  // GOAWAY, close once the calls in flight are done
  void Abort();       // close now
  bool InRead() const { return in_read_; }

  // nghttp2 callbacks (static trampolines below).
  int OnBeginHeaders(const nghttp2_frame* frame);
  int OnHeader(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int OnFrameRecv(const nghttp2_frame* frame);
  int OnDataChunk(int32_t id, std::string_view data);
  int OnFrameSend(const nghttp2_frame* frame);
  int OnStreamClose(int32_t id);
  ssize_t ReadOutbox(int32_t id, uint8_t* buf, size_t length, uint32_t* flags, Outbox* o);

 private:
  template <typename F>
  void WithStream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(plain_);
    }
  }
  tcp::socket& Lowest() { return tls_ ? tls_->next_layer() : plain_; }
  void OnHandshake(const error_code& ec);
  void RecordRefusal(const tls::HandshakeFailure& f);
  void StartSession();
  void Read();
  void OnRead(const error_code& ec, size_t n);
  void Flush();
  void OnWritten(const error_code& ec);
  void ArmTick(std::chrono::steady_clock::duration after = std::chrono::seconds(1));
  void OnTick();
  void Close();
  void Linger();
  void MaybeCloseDrained();

  Call* Find(int32_t id) {
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second.get();
  }
  void OnHeadersDone(Call* call);
  void Decide(const std::shared_ptr<Call>& call);
  void OnDecided(const std::shared_ptr<Call>& call);
  void OnHalfClose(const std::shared_ptr<Call>& call);
  void RunUnary(const std::shared_ptr<Call>& call);
  void StartStreaming(const std::shared_ptr<Call>& call);
  void Deliver(const std::shared_ptr<Call>& call);
  void Fail(Call* call, grpc::StatusCode code, const std::string& message);
  void RefuseHttp(Call* call, std::string_view status);
  void SubmitResponse(Call* call);
  void EndCall(Call* call);
  // The access log line and metrics of a call whose status did not reach the client.
  void RecordEndedEarly(Call* call);
  void Record(Call* call, const grpc::Status& status);
  template <typename Fn>
  absl::Status Guarded(Call* call, Fn&& fn);

  H2Engine::Impl* const engine_;
  internal::Shared* const shared_;
  const int endpoint_;
  asio::io_context* const io_;
  tcp::socket plain_;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls_;
  std::shared_ptr<asio::ssl::context> ctx_;  // kept for the connection's life
  asio::steady_timer tick_;
  std::string remote_;        // "127.0.0.1:5555"
  std::string peer_address_;  // "ipv4:127.0.0.1:5555"
  tls::PeerIdentity peer_;
  nghttp2_session* session_ = nullptr;
  std::array<char, kReadBufferBytes> rbuf_{};
  std::string out_;      // produced by nghttp2, waiting for the write in flight
  std::string writing_;  // in flight
  bool write_in_flight_ = false;
  bool in_read_ = false;
  std::vector<int32_t> kicks_;  // outboxes that had news during a read
  bool handshaken_ = false;
  bool draining_ = false;
  bool failed_ = false;  // nghttp2 refused the peer's input: close once our last bytes are out
  bool closed_ = false;
  bool lingering_ = false;  // our side is shut: reading only until the peer's EOF
  SteadyTime accepted_;
  SteadyTime linger_since_;
  SteadyTime last_active_;    // a call opened or closed
  SteadyTime last_progress_;  // bytes went out, or a call ended
  size_t held_bytes_ = 0;     // request bytes held over the connection's calls
  absl::flat_hash_map<int32_t, std::shared_ptr<Call>> calls_;
};

thread_local Connection* current_read = nullptr;  // the connection whose input is being processed

}  // namespace

struct H2Engine::Impl {
  internal::Shared* shared = nullptr;
  std::vector<std::unique_ptr<Loop>> loops;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::vector<int> ports;
  std::atomic<size_t> next_loop{0};
  std::mutex shutdown_mu;
  bool shut_down = false;
  std::atomic<bool> stopping{false};

  // Per endpoint: the last TLS context seen, which has our ALPN callback installed.
  std::mutex ctx_mu;
  std::vector<std::shared_ptr<asio::ssl::context>> contexts;

  // Every live connection, per loop (touched on that loop's thread only).
  std::vector<std::unordered_set<Connection*>> live;

  std::shared_ptr<asio::ssl::context> ContextFor(int endpoint) {
    const ServerOptions::Endpoint& e = shared->options.listeners[endpoint];
    if (!e.tls_context) return nullptr;
    std::shared_ptr<asio::ssl::context> ctx = e.tls_context();
    if (ctx == nullptr) return nullptr;
    std::lock_guard<std::mutex> lock(ctx_mu);
    if (contexts[endpoint] != ctx) {
      // A context built for this endpoint alone (its SslContextFollower), not yet handed to any
      // connection: installing the callback here races with no handshake.
      SSL_CTX* native = ctx->native_handle();
      SSL_CTX_set_alpn_select_cb(native, SelectH2, nullptr);
      // TLS session tickets (resumption, TLS 1.3 and 1.2). The builder turns them off because a
      // resumed session skips the client certificate's verification. Here that cannot let in
      // what the current set refuses: tickets are sealed with a key of this context alone, and
      // every change of certificate, CA or CRL builds a new context (SslContextFollower), so a
      // ticket from before a revocation no longer opens. Lifetime: 5 minutes.
      SSL_CTX_clear_options(native, SSL_OP_NO_TICKET);
      SSL_CTX_set_timeout(native, 300);
      contexts[endpoint] = ctx;
    }
    return ctx;
  }

  void Accept(int endpoint, int fd) {
    const size_t i = next_loop.fetch_add(1, std::memory_order_relaxed) % loops.size();
    Loop* loop = loops[i].get();
    asio::post(loop->io, [this, endpoint, fd, loop, i] {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      if (stopping.load(std::memory_order_acquire) ||
          getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        ::close(fd);
        return;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      error_code ec;
      tcp::socket socket(loop->io);
      socket.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
      if (ec) {
        ::close(fd);
        return;
      }
      std::shared_ptr<asio::ssl::context> ctx;
      if (shared->options.listeners[endpoint].tls_context) {
        ctx = ContextFor(endpoint);
        if (ctx == nullptr) return;  // no usable credentials: the socket closes with `socket`
      }
      auto conn = std::make_shared<Connection>(this, endpoint, &loop->io, std::move(socket),
                                               std::move(ctx));
      live[i].insert(conn.get());
      conn->Start();
    });
  }

  void Forget(asio::io_context* io, Connection* c) {
    for (size_t i = 0; i < loops.size(); ++i) {
      if (&loops[i]->io == io) live[i].erase(c);
    }
  }
};

namespace {

// ---- nghttp2 trampolines ------------------------------------------------------------------

Connection* Of(void* user_data) { return static_cast<Connection*>(user_data); }

int OnBeginHeadersCb(nghttp2_session*, const nghttp2_frame* frame, void* u) {
  return Of(u)->OnBeginHeaders(frame);
}
int OnHeaderCb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
               const uint8_t* value, size_t valuelen, uint8_t /*flags*/, void* u) {
  return Of(u)->OnHeader(frame, std::string_view(reinterpret_cast<const char*>(name), namelen),
                         std::string_view(reinterpret_cast<const char*>(value), valuelen));
}
int OnFrameRecvCb(nghttp2_session*, const nghttp2_frame* frame, void* u) {
  return Of(u)->OnFrameRecv(frame);
}
int OnDataChunkCb(nghttp2_session*, uint8_t /*flags*/, int32_t id, const uint8_t* data, size_t len,
                  void* u) {
  return Of(u)->OnDataChunk(id, std::string_view(reinterpret_cast<const char*>(data), len));
}
int OnFrameSendCb(nghttp2_session*, const nghttp2_frame* frame, void* u) {
  return Of(u)->OnFrameSend(frame);
}
int OnStreamCloseCb(nghttp2_session*, int32_t id, uint32_t /*error_code*/, void* u) {
  return Of(u)->OnStreamClose(id);
}
ssize_t ReadOutboxCb(nghttp2_session*, int32_t id, uint8_t* buf, size_t length, uint32_t* flags,
                     nghttp2_data_source* source, void* u) {
  return Of(u)->ReadOutbox(id, buf, length, flags, static_cast<Outbox*>(source->ptr));
}

// ---- Outbox --------------------------------------------------------------------------------

void Outbox::Write(grpc::ByteBuffer message) { WriteBytes(Flatten(message)); }

bool Outbox::WriteBytes(std::string_view message) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (ended || finish_requested) return false;
    if (message.size() > max_send_) {
      finish_requested = true;
      status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            absl::StrCat("response message larger than max (", message.size(),
                                         " vs. ", max_send_, ")"));
    } else {
      AppendFramedMessage(message, &data);
    }
  }
  Kick();
  return true;
}

void Outbox::FinishWith(grpc::Status s) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (ended || finish_requested) return;
    finish_requested = true;
    status = std::move(s);
  }
  Kick();
}

void Outbox::Kick() {
  std::shared_ptr<Connection> conn = conn_.lock();
  if (conn == nullptr) return;
  if (current_read == conn.get()) {  // on the loop, inside this connection's read: batched
    conn->QueueKick(id_);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    if (kick_posted) return;
    kick_posted = true;
  }
  asio::post(*io_, [weak = conn_, id = id_] {
    if (std::shared_ptr<Connection> c = weak.lock()) c->Kick(id, /*flush=*/true);
  });
}

// ---- Connection ----------------------------------------------------------------------------

Connection::Connection(H2Engine::Impl* engine, int endpoint, asio::io_context* io,
                       tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx)
    : engine_(engine),
      shared_(engine->shared),
      endpoint_(endpoint),
      io_(io),
      plain_(std::move(socket)),
      ctx_(std::move(ctx)),
      tick_(*io) {
  error_code ec;
  const tcp::endpoint remote = plain_.remote_endpoint(ec);
  if (!ec) {
    remote_ = absl::StrCat(remote.address().to_string(), ":", remote.port());
    peer_address_ = PeerAddress(remote);
  }
  if (ctx_ != nullptr) {
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(plain_), *ctx_);
  }
  accepted_ = last_active_ = last_progress_ = std::chrono::steady_clock::now();
}

Connection::~Connection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

void Connection::Start() {
  ArmTick();
  if (!tls_) {
    error_code ec;
    const tcp::endpoint remote = plain_.remote_endpoint(ec);
    // The cleartext listener is for a proxy or a benchmark on this host only (as gRPC's local-TCP
    // credentials): any other peer is closed before a byte is read.
    if (ec || !IsLoopback(remote.address())) return Close();
    peer_.transport = "local";
    handshaken_ = true;
    return StartSession();
  }
  tls_->async_handshake(
      asio::ssl::stream_base::server,
      [self = shared_from_this()](const error_code& ec) { self->OnHandshake(ec); });
}

void Connection::RecordRefusal(const tls::HandshakeFailure& f) {
  const ServerOptions::Endpoint& e = shared_->options.listeners[endpoint_];
  if (e.plaintext_log == nullptr) return;
  observe::HandshakeRefusal r;
  r.listener = e.name;
  r.peer = remote_;
  r.reason = std::string(tls::HandshakeReasonLabel(f.reason));
  r.words = std::string(tls::HandshakeReasonWords(f.reason));
  r.subject = f.subject;
  r.serial = f.serial;
  r.detail = f.detail;
  e.plaintext_log->Record(r, absl::Now());
}

void Connection::OnHandshake(const error_code& ec) {
  if (closed_) return;
  if (ec) {
    const unsigned long err = ec.category() == asio::error::get_ssl_category()
                                  ? static_cast<unsigned long>(ec.value())
                                  : 0;
    RecordRefusal(tls::DescribeHandshakeFailure(tls_->native_handle(), err));
    return Close();
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(tls_->native_handle(), &alpn, &alpn_len);
  if (alpn_len != 2 || std::string_view(reinterpret_cast<const char*>(alpn), 2) != "h2") {
    tls::HandshakeFailure f;
    f.detail = "the client offered no ALPN \"h2\" (gRPC needs HTTP/2)";
    RecordRefusal(f);
    return Close();
  }
  peer_ = tls::PeerIdentityFromSsl(tls_->native_handle());
  handshaken_ = true;
  StartSession();
}

void Connection::StartSession() {
  // Reads beyond the first of a turn (OnRead) are synchronous and must never wait.
  error_code ignored;
  Lowest().non_blocking(true, ignored);
  static nghttp2_session_callbacks* callbacks = [] {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, OnBeginHeadersCb);
    nghttp2_session_callbacks_set_on_header_callback(cb, OnHeaderCb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, OnFrameRecvCb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, OnDataChunkCb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, OnFrameSendCb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, OnStreamCloseCb);
    return cb;
  }();
  static nghttp2_option* option = [] {
    nghttp2_option* o = nullptr;
    nghttp2_option_new(&o);
    nghttp2_option_set_stream_reset_rate_limit(o, kResetBurst, kResetRate);
    return o;
  }();
  if (nghttp2_session_server_new2(&session_, callbacks, this, option) != 0) return Close();
  const ServerOptions& o = shared_->options;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
       static_cast<uint32_t>(std::max(1, o.max_concurrent_streams))},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindowBytes)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, o.max_header_list_bytes},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindowBytes);
  Flush();
  Read();
}

void Connection::Read() {
  if (closed_) return;
  WithStream([this](auto& s) {
    s.async_read_some(
        asio::buffer(rbuf_),
        [self = shared_from_this()](const error_code& ec, size_t n) { self->OnRead(ec, n); });
  });
}

void Connection::OnRead(const error_code& ec, size_t n) {
  if (closed_) return;
  if (ec) return Close();         // the peer closed, reset, or the socket was closed under us
  if (lingering_) return Read();  // dropped: the session is over
  current_read = this;
  in_read_ = true;
  ssize_t rv =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(rbuf_.data()), n);
  // A client that writes each call on its own (gRPC C++ does) is read one call at a time: TLS
  // gives one record per read. What has arrived meanwhile (held by TLS, or in the kernel) is taken
  // now, so that the responses to all of it share this turn's write. The socket is non-blocking:
  // a read that would wait fails with would_block instead, which ends the turn. No FIONREAD
  // first: that was one more system call per call (the read from TLS's buffer needs none). At
  // most kMaxReadsPerTurn, then the other connections on this loop get their turn; an error or
  // EOF here is left for the next asynchronous read to see.
  for (int more = 1; rv >= 0 && more < kMaxReadsPerTurn; ++more) {
    error_code again;
    size_t got = 0;
    WithStream([&](auto& s) { got = s.read_some(asio::buffer(rbuf_), again); });
    if (again || got == 0) break;
    rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(rbuf_.data()), got);
  }
  in_read_ = false;
  current_read = nullptr;
  // Everything the read made ready goes out together: one write for all of its responses.
  std::vector<int32_t> kicks;
  kicks.swap(kicks_);
  for (int32_t id : kicks) Kick(id, /*flush=*/false);
  if (rv < 0) {
    spdlog::debug("grpc (h2) {}: {}", remote_, nghttp2_strerror(static_cast<int>(rv)));
    // A peer that floods us with frames to acknowledge and reads nothing gets no more writes.
    if (rv == NGHTTP2_ERR_FLOODED) return Close();
    // Otherwise nghttp2 has queued its GOAWAY (protocol error, rapid reset): send it, then close
    // (MaybeCloseDrained, once nothing is left to write); nothing more is read.
    draining_ = true;
    failed_ = true;
    Flush();
    if (!write_in_flight_) Close();
    return;
  }
  Flush();
  if (closed_) return;
  if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0 &&
      !write_in_flight_) {
    Linger();
  }
  Read();
}

void Connection::Flush() {
  if (closed_ || lingering_ || session_ == nullptr || write_in_flight_) return;
  for (;;) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return Close();
    if (n == 0) break;
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  if (out_.empty()) return MaybeCloseDrained();
  writing_.swap(out_);
  out_.clear();
  write_in_flight_ = true;
  WithStream([this](auto& s) {
    asio::async_write(
        s, asio::buffer(writing_),
        [self = shared_from_this()](const error_code& ec, size_t) { self->OnWritten(ec); });
  });
}

void Connection::OnWritten(const error_code& ec) {
  write_in_flight_ = false;
  writing_.clear();
  if (closed_) return;
  if (ec) return Close();
  last_progress_ = std::chrono::steady_clock::now();
  Flush();
}

void Connection::MaybeCloseDrained() {
  if (closed_ || write_in_flight_ || session_ == nullptr) return;
  if (failed_) return Close();
  const bool nothing_to_write = nghttp2_session_want_write(session_) == 0;
  const bool done = nghttp2_session_want_read(session_) == 0 || (draining_ && calls_.empty());
  if (nothing_to_write && done) Linger();
}

// Our last bytes are out. Closing a socket that still holds unread input sends RST, not FIN, and
// an RST can destroy at the peer an answer it has not read yet: the last call of a drain, on a
// busy client (the peer's WINDOW_UPDATE or PING arrives just before the close). So our sending
// side is shut (FIN after the last byte), and what the peer still sends is read and dropped until
// it closes too, or kLingerTime passes (OnTick), as web servers do on a graceful close.
void Connection::Linger() {
  if (closed_ || lingering_) return;
  lingering_ = true;
  linger_since_ = std::chrono::steady_clock::now();
  error_code ignored;
  Lowest().shutdown(tcp::socket::shutdown_send, ignored);
  ArmTick(kLingerTime);  // the next tick comes when the linger is over
}

void Connection::ArmTick(std::chrono::steady_clock::duration after) {
  tick_.expires_after(after);
  tick_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->OnTick();
  });
}

void Connection::OnTick() {
  if (closed_) return;
  const ServerOptions& o = shared_->options;
  const SteadyTime now = std::chrono::steady_clock::now();
  const auto over = [now](SteadyTime since, absl::Duration limit) {
    return now - since > absl::ToChronoNanoseconds(limit);
  };
  if (!handshaken_) {
    if (over(accepted_, o.handshake_timeout)) return Close();
    return ArmTick();
  }
  if (lingering_) {
    if (now - linger_since_ >= kLingerTime) return Close();
    return ArmTick();
  }
  if (calls_.empty() && over(last_active_, o.idle_timeout)) {
    BeginDrain();
    if (closed_) return;
  }
  bool waiting = write_in_flight_;
  bool slow_headers = false;
  for (const auto& [id, call] : calls_) {
    // A header block begun and not finished holds the connection (no other frame may come):
    // the header deadline is the handshake's.
    if (!call->headers_done && over(call->begun, o.handshake_timeout)) slow_headers = true;
    std::lock_guard<std::mutex> lock(call->outbox->mu);
    if (call->outbox->offset < call->outbox->data.size() ||
        (call->outbox->finish_requested && !call->status_sent)) {
      waiting = true;
    }
  }
  if (slow_headers) {
    spdlog::warn("grpc (h2) {}: closed: a request's headers took longer than {}", remote_,
                 absl::FormatDuration(o.handshake_timeout));
    return Abort();
  }
  if (waiting && over(last_progress_, o.stall_timeout)) {
    spdlog::warn("grpc (h2) {}: closed: responses waited {} for a peer that read nothing", remote_,
                 absl::FormatDuration(o.stall_timeout));
    return Abort();
  }
  ArmTick();
}

void Connection::BeginDrain() {
  if (closed_ || draining_) return;
  draining_ = true;
  if (session_ == nullptr) return Close();
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  Flush();
  if (calls_.empty() && !write_in_flight_) Linger();
}

void Connection::Abort() { Close(); }

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  tick_.cancel();
  std::vector<std::shared_ptr<Call>> open;
  open.reserve(calls_.size());
  for (auto& [id, call] : calls_) open.push_back(call);
  for (const std::shared_ptr<Call>& call : open) EndCall(call.get());
  calls_.clear();
  error_code ignored;
  Lowest().shutdown(tcp::socket::shutdown_both, ignored);
  Lowest().close(ignored);
  engine_->Forget(io_, this);
}

// ---- request side ----------------------------------------------------------------------------

int Connection::OnBeginHeaders(const nghttp2_frame* frame) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  const int32_t id = frame->hd.stream_id;
  if (draining_) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  const SteadyTime now = std::chrono::steady_clock::now();
  auto outbox =
      std::make_shared<Outbox>(weak_from_this(), io_, id, shared_->options.max_send_message_bytes);
  auto call = std::make_shared<Call>(id, std::move(outbox), now);
  call->reader.emplace(shared_->options.max_receive_message_bytes);
  calls_[id] = std::move(call);
  last_active_ = now;
  return 0;
}

int Connection::OnHeader(const nghttp2_frame* frame, std::string_view name,
                         std::string_view value) {
  Call* call = Find(frame->hd.stream_id);
  if (call == nullptr || call->headers_done) return 0;  // client trailers: nothing in them is used
  // RFC 7541 §4.1's size: what SETTINGS_MAX_HEADER_LIST_SIZE bounds.
  call->header_bytes += name.size() + value.size() + 32;
  if (call->header_bytes > shared_->options.max_header_list_bytes) {
    call->headers_too_large = true;
    call->headers.clear();
    return 0;
  }
  if (call->headers_too_large) return 0;
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") {
      call->method = value;
    } else if (name == ":path") {
      call->path = value;
    } else if (name == ":authority") {
      call->authority = value;
    }
    return 0;
  }
  if (name == "content-type") {
    call->content_type = value;
  } else if (name == "grpc-timeout") {
    call->timeout = value;
  } else if (name == "grpc-encoding") {
    call->encoding = value;
  } else if (name == "te" || name == "grpc-accept-encoding") {
    // transport headers, not metadata
  } else {
    if (name == "user-agent") call->user_agent = value;
    call->headers.emplace_back(name, value);
  }
  return 0;
}

int Connection::OnFrameRecv(const nghttp2_frame* frame) {
  const int32_t id = frame->hd.stream_id;
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  auto it = calls_.find(id);
  if (it == calls_.end()) return 0;
  std::shared_ptr<Call> call = it->second;
  if (frame->hd.type == NGHTTP2_HEADERS && !call->headers_done) OnHeadersDone(call.get());
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && !call->half_closed && !call->closed) {
    call->half_closed = true;
    OnHalfClose(call);
  }
  return 0;
}

int Connection::OnDataChunk(int32_t id, std::string_view data) {
  Call* call = Find(id);
  if (call == nullptr || call->closed || !call->headers_done || call->outbox->done()) {
    return 0;  // a call already finished: its remaining body is discarded
  }
  const size_t before = call->reader->buffered();
  absl::Status s = call->reader->Feed(data, [call](std::string&& message) {
    call->held_bytes += message.size();
    call->messages.push_back(std::move(message));
  });
  held_bytes_ = held_bytes_ - before + call->reader->buffered();
  if (!s.ok()) {
    Fail(call, static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
    return 0;
  }
  if (held_bytes_ + call->held_bytes > shared_->options.max_buffered_bytes) {
    Fail(call, grpc::StatusCode::RESOURCE_EXHAUSTED,
         absl::StrCat("this connection holds more than ", shared_->options.max_buffered_bytes,
                      " bytes of unfinished requests"));
    return 0;
  }
  if (call->streaming && call->decided && !call->messages.empty()) {
    Deliver(calls_[id]);
  } else if (!call->streaming && call->messages.size() > 1) {
    Fail(call, grpc::StatusCode::INTERNAL, "unary call with more than one request message");
  }
  return 0;
}

void Connection::OnHeadersDone(Call* call) {
  call->headers_done = true;
  if (call->headers_too_large) {
    return Fail(
        call, grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("request metadata larger than ", shared_->options.max_header_list_bytes,
                     " bytes (grpc.max_header_list_bytes)"));
  }
  if (call->method != "POST") return RefuseHttp(call, "405");
  if (!absl::StartsWith(call->content_type, "application/grpc")) return RefuseHttp(call, "415");
  if (!call->encoding.empty() && call->encoding != "identity") {
    std::lock_guard<std::mutex> lock(call->outbox->mu);
    call->outbox->trailing.emplace_back("grpc-accept-encoding", "identity");
  }
  if (!call->encoding.empty() && call->encoding != "identity") {
    return Fail(call, grpc::StatusCode::UNIMPLEMENTED,
                absl::StrCat("grpc-encoding ", call->encoding,
                             " is not supported (this server accepts identity)"));
  }
  if (!call->timeout.empty()) {
    if (std::optional<absl::Duration> t = ParseGrpcTimeout(call->timeout)) {
      call->deadline = absl::Now() + *t;
    }
  }
  // Views into `headers`, which no longer change. "-bin" values are decoded in place.
  for (auto& [key, value] : call->headers) {
    if (IsBinaryHeader(key)) {
      std::optional<std::string> raw = DecodeBinaryHeader(value);
      if (!raw.has_value()) {
        return Fail(call, grpc::StatusCode::INTERNAL,
                    absl::StrCat("metadata ", key, " is not base64"));
      }
      value = *std::move(raw);
    }
  }
  for (const auto& [key, value] : call->headers) {
    call->metadata.emplace(grpc::string_ref(key.data(), key.size()),
                           grpc::string_ref(value.data(), value.size()));
  }
  Decide(calls_[call->id]);
}

// Authentication and authorization before any handler (design §7). A fleet's signed call may wait
// for the shared nonce ledger; its decision then comes back to this loop.
void Connection::Decide(const std::shared_ptr<Call>& call) {
  const absl::Time now = absl::Now();
  call->start = std::chrono::steady_clock::now();
  if (!shared_->BeginDeferral()) {  // shutting down: decide here
    call->decision = shared_->authorizer->Authorize(call->path, call->metadata, peer_, now);
    return OnDecided(call);
  }
  call->deciding = true;
  std::optional<auth::Decision> decided = shared_->authorizer->AuthorizeOrDefer(
      call->path, call->metadata, peer_, now,
      [weak = weak_from_this(), call, io = io_, shared = shared_](auth::Decision d) {
        asio::post(*io, [weak, call, shared, d = std::move(d)]() mutable {
          call->decision = std::move(d);
          call->deciding = false;
          if (std::shared_ptr<Connection> c = weak.lock()) c->OnDecided(call);
          shared->EndDeferral();
        });
      });
  if (!decided.has_value()) return;
  shared_->EndDeferral();
  call->deciding = false;
  call->decision = *std::move(decided);
  OnDecided(call);
}

void Connection::OnDecided(const std::shared_ptr<Call>& call) {
  if (call->closed) return;
  call->decided = true;
  if (!shared_->Admit(call->path, peer_, &call->decision, &call->shed_reason)) {
    return Fail(call.get(), call->decision.status.error_code(),
                call->decision.status.error_message());
  }
  call->entry = shared_->methods->Find(call->path);
  if (call->entry == nullptr) {
    return Fail(call.get(), grpc::StatusCode::UNIMPLEMENTED,
                absl::StrCat("unknown method ", call->path));
  }
  if (!call->entry->unary) return StartStreaming(call);
  if (call->half_closed) RunUnary(call);
  if (!in_read_) Flush();
}

void Connection::OnHalfClose(const std::shared_ptr<Call>& call) {
  if (!call->headers_done || call->closed || call->outbox->done()) return;
  if (!call->reader->at_boundary()) {
    return Fail(call.get(), grpc::StatusCode::INTERNAL, "request ended inside a message");
  }
  if (!call->decided) return;  // the decision runs the call when it comes
  if (call->streaming) {
    if (call->handler != nullptr) {
      absl::Status s = Guarded(call.get(), [&](const CallInfo& info) {
        return call->handler->OnHalfClose(info, call->outbox);
      });
      if (!s.ok()) call->outbox->Finish(s);
    } else if (call->entry->finish_on_half_close) {
      call->outbox->Finish(absl::OkStatus());
    }
    return;
  }
  RunUnary(call);
}

template <typename Fn>
absl::Status Connection::Guarded(Call* call, Fn&& fn) {
  CallInfo info{call->path, call->decision.principal, peer_, call->metadata, call->deadline, *call};
  try {
    return fn(info);
  } catch (const std::exception& e) {
    spdlog::error("{}: handler threw: {}", call->path, e.what());
    return absl::InternalError("internal error");
  }
}

void Connection::RunUnary(const std::shared_ptr<Call>& call) {
  if (call->dispatched || call->outbox->done()) return;
  call->dispatched = true;
  if (call->messages.size() != 1) {
    return Fail(call.get(), grpc::StatusCode::INTERNAL,
                call->messages.empty() ? "unary call without a request message"
                                       : "unary call with more than one request message");
  }
  // The request moves into a ByteBuffer for the handler; its bytes leave the connection's count.
  std::string bytes = std::move(call->messages.front());
  call->messages.clear();
  call->held_bytes = 0;
  auto run = [this, call, bytes = std::move(bytes)]() {
    grpc::Slice slice(bytes.data(), bytes.size());
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    absl::Status s = Guarded(call.get(), [&](const CallInfo& info) {
      return call->entry->unary(info, request, &response);
    });
    if (!s.ok()) return call->outbox->Finish(s);
    call->outbox->WriteBytes(Flatten(response));
    call->outbox->FinishWith(grpc::Status::OK);
  };
  if (call->entry->execution == Execution::kInline) return run();
  // A blocking handler runs on a worker; the connection stays alive with the job.
  bool posted = shared_->workers->Post(
      [self = shared_from_this(), call, run = std::move(run), shared = shared_]() mutable {
        if (call->deadline <= absl::Now()) {
          shared->skipped_expired.fetch_add(1, std::memory_order_relaxed);
          call->outbox->FinishWith(
              grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded in queue"));
          return;
        }
        // Only here can the stream end while the handler runs (an inline one holds the loop).
        {
          std::lock_guard<std::mutex> lock(call->outbox->mu);
          call->handler_running = true;
        }
        run();  // what it writes is dropped if the stream has ended meanwhile
        bool record = false;
        {
          std::lock_guard<std::mutex> lock(call->outbox->mu);
          call->handler_running = false;
          record = call->record_when_handler_returns;
        }
        if (record) self->RecordEndedEarly(call.get());
      });
  if (!posted) {
    shared_->refused_queue_full.fetch_add(1, std::memory_order_relaxed);
    Fail(call.get(), grpc::StatusCode::RESOURCE_EXHAUSTED, "server busy: try again later");
  }
}

void Connection::StartStreaming(const std::shared_ptr<Call>& call) {
  if (shared_->streams_open.fetch_add(1, std::memory_order_relaxed) >=
      shared_->options.max_streams) {
    shared_->streams_open.fetch_sub(1, std::memory_order_relaxed);
    shared_->refused_streams.fetch_add(1, std::memory_order_relaxed);
    return Fail(call.get(), grpc::StatusCode::RESOURCE_EXHAUSTED,
                "too many open streams on this node (grpc.max_streams)");
  }
  call->counted = true;
  call->streaming = true;
  if (call->deadline != absl::InfiniteFuture()) {
    call->deadline_timer = std::make_unique<asio::steady_timer>(*io_);
    call->deadline_timer->expires_after(
        absl::ToChronoNanoseconds(std::max(absl::ZeroDuration(), call->deadline - absl::Now())));
    call->deadline_timer->async_wait([weak = std::weak_ptr<Call>(call)](const error_code& ec) {
      if (ec) return;
      if (std::shared_ptr<Call> c = weak.lock()) {
        c->outbox->FinishWith(
            grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded"));
      }
    });
  }
  absl::Status s;
  if (call->entry->stream_handler) {
    call->handler = call->entry->stream_handler();
    s = Guarded(call.get(),
                [&](const CallInfo& info) { return call->handler->OnStart(info, call->outbox); });
  }
  if (!s.ok()) return call->outbox->Finish(s);
  Deliver(call);
  // A client that half-closed before the decision came: its half-close is handled now.
  if (call->half_closed && !call->closed) OnHalfClose(call);
}

void Connection::Deliver(const std::shared_ptr<Call>& call) {
  std::vector<std::string> messages;
  messages.swap(call->messages);
  call->held_bytes = 0;
  for (std::string& m : messages) {
    if (call->closed || call->outbox->done()) return;
    grpc::Slice slice(m.data(), m.size());
    grpc::ByteBuffer request(&slice, 1);
    absl::Status s = Guarded(call.get(), [&](const CallInfo& info) {
      return call->handler != nullptr ? call->handler->OnMessage(info, request, call->outbox)
                                      : call->entry->stream(info, request, call->outbox);
    });
    if (!s.ok()) return call->outbox->Finish(s);
  }
}

void Connection::Fail(Call* call, grpc::StatusCode code, const std::string& message) {
  call->outbox->FinishWith(grpc::Status(code, message));
}

void Connection::RefuseHttp(Call* call, std::string_view status) {
  // Not a gRPC request (PROTOCOL-HTTP2.md: 415 for a content-type that is not application/grpc).
  call->response_submitted = true;
  {
    std::lock_guard<std::mutex> lock(call->outbox->mu);
    call->outbox->ended = true;
    call->outbox->finish_requested = true;
    call->outbox->status = grpc::Status(grpc::StatusCode::UNKNOWN, "not a gRPC request");
  }
  const nghttp2_nv nva[] = {Header(":status", status)};
  nghttp2_submit_response(session_, call->id, nva, std::size(nva), nullptr);
}

// ---- response side ---------------------------------------------------------------------------

void Connection::Kick(int32_t id, bool flush) {
  if (closed_) return;
  Call* call = Find(id);
  if (call != nullptr && !call->closed) {
    {
      std::lock_guard<std::mutex> lock(call->outbox->mu);
      call->outbox->kick_posted = false;
    }
    SubmitResponse(call);
  }
  if (flush) Flush();
}

void Connection::SubmitResponse(Call* call) {
  Outbox& o = *call->outbox;
  std::unique_lock<std::mutex> lock(o.mu);
  if (call->response_submitted) {
    if (o.deferred && (o.offset < o.data.size() || o.finish_requested)) {
      o.deferred = false;
      lock.unlock();
      nghttp2_session_resume_data(session_, call->id);
    }
    return;
  }
  const bool has_data = o.offset < o.data.size();
  if (!has_data && !o.finish_requested) return;
  call->response_submitted = true;
  o.initial_sent = true;
  HeaderBlock headers;
  headers.Add(":status", "200");
  headers.Add("content-type", "application/grpc");
  headers.AddMetadata(o.initial);
  if (!has_data && o.initial.empty()) {
    // Trailers-only: the status rides on the only HEADERS frame (END_STREAM). With initial
    // metadata the headers go first and the status follows in trailers, so that a client sees
    // each where the handler put it.
    o.trailers_sent = true;
    headers.AddStatus(o.status);
    headers.AddMetadata(o.trailing);
    nghttp2_submit_response(session_, call->id, headers.data(), headers.size(), nullptr);
    return;
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = &o;
  provider.read_callback = ReadOutboxCb;
  nghttp2_submit_response(session_, call->id, headers.data(), headers.size(), &provider);
}

ssize_t Connection::ReadOutbox(int32_t id, uint8_t* buf, size_t length, uint32_t* flags,
                               Outbox* o) {
  std::lock_guard<std::mutex> lock(o->mu);
  const size_t available = o->data.size() - o->offset;
  const size_t n = std::min(available, length);
  std::copy_n(o->data.data() + o->offset, n, buf);
  o->offset += n;
  if (o->offset == o->data.size()) {
    o->data.clear();
    o->offset = 0;
    if (o->finish_requested && !o->trailers_sent) {
      // The status goes out in trailers after the last message.
      o->trailers_sent = true;
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      HeaderBlock trailers;
      trailers.AddStatus(o->status);
      trailers.AddMetadata(o->trailing);
      nghttp2_submit_trailer(session_, id, trailers.data(), trailers.size());
      return static_cast<ssize_t>(n);
    }
  }
  if (n == 0) {
    o->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

int Connection::OnFrameSend(const nghttp2_frame* frame) {
  if (frame->hd.type != NGHTTP2_HEADERS || (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
    return 0;
  }
  Call* call = Find(frame->hd.stream_id);
  if (call == nullptr) return 0;
  call->status_sent = true;
  last_progress_ = std::chrono::steady_clock::now();
  // The answer is complete; a client still sending is told to stop (RFC 9113 §8.1).
  if (nghttp2_session_get_stream_remote_close(session_, call->id) == 0) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, call->id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

int Connection::OnStreamClose(int32_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return 0;
  std::shared_ptr<Call> call = std::move(it->second);
  calls_.erase(it);
  EndCall(call.get());
  const SteadyTime now = std::chrono::steady_clock::now();
  last_active_ = now;
  last_progress_ = now;
  // No flush here: nghttp2 closes streams only inside mem_recv or mem_send, and both end in a
  // flush (OnRead's, or the one running) that sees a drained connection out (MaybeCloseDrained).
  // A flush from here ran nested in mem_send before the trailers that closed the stream were
  // taken, found nothing to send, and closed the connection without them.
  return 0;
}

// The call is over: record it once, release what it held.
void Connection::EndCall(Call* call) {
  if (call->closed) return;
  call->closed = true;
  grpc::Status status;
  bool handler_running = false;
  {
    std::lock_guard<std::mutex> lock(call->outbox->mu);
    call->outbox->ended = true;
    status = call->outbox->status;
    handler_running = call->handler_running;
    if (handler_running && !call->status_sent) call->record_when_handler_returns = true;
  }
  if (call->deadline_timer) call->deadline_timer->cancel();
  call->handler.reset();
  if (call->counted) shared_->streams_open.fetch_sub(1, std::memory_order_relaxed);
  held_bytes_ -= std::min(held_bytes_, call->reader ? call->reader->buffered() : 0);
  if (!call->headers_done || call->path.empty()) return;  // never became a call
  if (call->status_sent) return Record(call, status);
  // The worker records it when the handler returns (the connection and the call live as long as
  // the job does).
  if (!handler_running) RecordEndedEarly(call);
}

// The client ended the stream first: at its deadline (DEADLINE_EXCEEDED) or not (CANCELLED). A
// gRPC client says neither on the wire (RST_STREAM CANCEL both times), and the server's deadline
// runs a little behind the client's, by the time the request took to arrive; so a handler that
// overran the deadline is only known to have done so once it has returned.
void Connection::RecordEndedEarly(Call* call) {
  Record(call, call->deadline <= absl::Now()
                   ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded")
                   : grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
}

void Connection::Record(Call* call, const grpc::Status& status) {
  internal::CallRecord r;
  r.method = call->path;
  r.code = static_cast<int>(status.error_code());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - call->start).count();
  r.authority = call->authority;
  r.peer_address = peer_address_;
  r.user_agent = call->user_agent;
  r.peer = &peer_;
  r.decision = &call->decision;
  r.shed_reason = call->shed_reason;
  shared_->Observe(r);
}

}  // namespace

absl::StatusOr<std::unique_ptr<H2Engine>> H2Engine::Start(internal::Shared* shared) {
  auto impl = std::make_unique<Impl>();
  impl->shared = shared;
  const ServerOptions& o = shared->options;
  impl->contexts.resize(o.listeners.size());
  for (size_t i = 0; i < o.listeners.size(); ++i) {
    const ServerOptions::Endpoint& e = o.listeners[i];
    if (e.tls_context && impl->ContextFor(static_cast<int>(i)) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("grpc (engine h2): no TLS context for ", e.address));
    }
    absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Bind(e.address, o.connection_limits);
    if (!l.ok()) return l.status();
    if (e.plaintext_log != nullptr && e.tls_context) (*l)->ScreenPlaintext(e.plaintext_log, e.name);
    impl->ports.push_back((*l)->port());
    impl->listeners.push_back(*std::move(l));
  }
  const int threads = o.threads > 0 ? o.threads : internal::AllowedCpus();
  impl->live.resize(threads);
  for (int i = 0; i < threads; ++i) {
    auto loop = std::make_unique<Loop>();
    Loop* raw = loop.get();
    loop->thread = std::thread([raw] { raw->io.run(); });
    impl->loops.push_back(std::move(loop));
  }
  Impl* raw = impl.get();
  for (size_t i = 0; i < impl->listeners.size(); ++i) {
    impl->listeners[i]->Start([raw, i](int fd) { raw->Accept(static_cast<int>(i), fd); });
  }
  return std::unique_ptr<H2Engine>(new H2Engine(std::move(impl)));
}

H2Engine::H2Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

H2Engine::~H2Engine() { Shutdown(absl::ZeroDuration()); }

const std::vector<int>& H2Engine::ports() const { return impl_->ports; }

ListenerStats H2Engine::connection_stats() const {
  ListenerStats s;
  for (const auto& l : impl_->listeners) {
    ListenerStats one = l->stats();
    s.accepted += one.accepted;
    s.open += one.open;
    s.refused_connection_limit += one.refused_connection_limit;
    s.refused_fd_headroom += one.refused_fd_headroom;
    s.accept_errors += one.accept_errors;
  }
  return s;
}

void H2Engine::Shutdown(absl::Duration grace) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.shutdown_mu);
  if (s.shut_down) return;
  s.shut_down = true;
  for (auto& l : s.listeners) l->Stop();  // no new connections from here on
  s.stopping.store(true, std::memory_order_release);
  // GOAWAY on every connection; each closes once its calls are done.
  const auto on_each_loop = [&s](auto fn) {
    std::vector<std::shared_ptr<std::promise<void>>> done;
    for (size_t i = 0; i < s.loops.size(); ++i) {
      auto p = std::make_shared<std::promise<void>>();
      done.push_back(p);
      asio::post(s.loops[i]->io, [&s, i, p, fn] {
        fn(s.live[i]);
        p->set_value();
      });
    }
    for (auto& p : done) p->get_future().wait();
  };
  on_each_loop([](std::unordered_set<Connection*>& live) {
    std::vector<Connection*> all(live.begin(), live.end());
    for (Connection* c : all) c->BeginDrain();
  });
  const absl::Time until = absl::Now() + grace;
  for (;;) {
    auto open = std::make_shared<std::atomic<size_t>>(0);
    on_each_loop([open](std::unordered_set<Connection*>& live) { *open += live.size(); });
    if (*open == 0 || absl::Now() >= until) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  // Deferred decisions resume on the loops: wait for each before the loops stop.
  s.shared->CloseDeferrals();
  on_each_loop([](std::unordered_set<Connection*>& live) {
    std::vector<Connection*> all(live.begin(), live.end());
    for (Connection* c : all) c->Abort();
  });
  // Blocking handlers still queued finish now; their answers go nowhere (the calls are closed).
  s.shared->workers->Stop();
  for (auto& loop : s.loops) {
    loop->guard.reset();
    loop->io.stop();
  }
  for (auto& loop : s.loops) loop->thread.join();
}

}  // namespace nodegate::rpc
