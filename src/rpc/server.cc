#include "rpc/server.h"

#include <grpcpp/alarm.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/async_unary_call.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "rpc/h2_engine.h"
#include "rpc/server_core.h"
#include "spdlog/spdlog.h"

// ThreadSanitizer (make tsan) sees our threads but not Debian's uninstrumented libgrpc, through
// which a completion-queue tag passes from the thread that starts an operation to the thread that
// polls its completion. Armed() and Polled() tell TSan about that edge (release, then acquire,
// on the call), so the call's state written before an operation is ordered before the code that
// runs (or deletes the call) when it completes. They compile to nothing in other builds.
#if defined(__SANITIZE_THREAD__)
#define NODEGATE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NODEGATE_TSAN 1
#endif
#endif
#ifdef NODEGATE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace nodegate::rpc {
namespace {

// Requests kept posted on each completion queue, so that a burst of new calls finds one waiting.
constexpr int kPostedRequests = 8;    // generic: streams and unknown names
constexpr int kPostedPerMethod = 16;  // each registered unary method

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::string_view View(const grpc::string_ref& s) { return std::string_view(s.data(), s.size()); }

int ClampMs(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, INT32_MAX));
}

int ClampBytes(size_t n) { return static_cast<int>(std::min<size_t>(n, INT32_MAX)); }

}  // namespace

struct Server::Impl : internal::Shared {
  grpc::AsyncGenericService generic;     // streaming methods, and names nobody registered
  std::unique_ptr<grpc::Service> unary;  // RawUnaryService: every unary method, registered
  std::vector<const MethodTable::Method*> unary_methods;  // by registration index
  std::unique_ptr<grpc::Server> server;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<Listener>> listeners;  // our accept fronts, one per endpoint
  std::vector<std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor>> acceptors;
  std::vector<int> ports;
  std::unique_ptr<H2Engine> h2;  // engine kH2: everything above but `listeners` stays empty
  std::atomic<bool> shutting_down{false};
  std::mutex shutdown_mu;

  bool shut_down = false;

  void RequestCall(grpc::ServerCompletionQueue* cq);
  void RequestUnary(grpc::ServerCompletionQueue* cq, int index);
  void Poll(grpc::ServerCompletionQueue* cq);
};

namespace {

// A completion-queue tag: which operation of which call completed.
class CallBase;
struct Tag {
  enum Kind { kRequest, kRead, kWrite, kFinish, kDone, kResume };
  Kind kind;
  CallBase* call;
};

// Every tag handed to gRPC goes through Armed(); Poll() calls Polled() on each tag it takes out.
Tag* Armed(Tag* tag) {
#ifdef NODEGATE_TSAN
  __tsan_release(tag->call);
#endif
  return tag;
}
void Polled(Tag* tag) {
#ifdef NODEGATE_TSAN
  __tsan_acquire(tag->call);
#else
  (void)tag;
#endif
}

// The status a call that ended without our status reaching the client is logged with.
grpc::Status EndedEarly(const grpc::ServerContextBase& ctx) {
  if (ctx.deadline() <= std::chrono::system_clock::now()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
}

// What every call does whatever its path: authorize at dispatch, observe at the end. As the
// handler's ResponseMetadata it writes straight into the call's context: a unary handler runs
// before its call's Finish (no lock needed); StreamCall guards it with the stream's lock.
class CallBase : public ResponseMetadata {
 public:
  CallBase(Server::Impl* server, grpc::ServerCompletionQueue* cq) : server_(server), cq_(cq) {}
  virtual ~CallBase() = default;
  virtual void Proceed(Tag::Kind kind, bool ok) = 0;

  void AddInitial(std::string_view key, std::string_view value) override {
    if (!internal::LegalResponseMetadata(key, value)) return Illegal(key);
    ctx_base_->AddInitialMetadata(std::string(key), std::string(value));
  }
  void AddTrailing(std::string_view key, std::string_view value) override {
    if (!internal::LegalResponseMetadata(key, value)) return Illegal(key);
    ctx_base_->AddTrailingMetadata(std::string(key), std::string(value));
  }

 protected:
  void Illegal(std::string_view key) {
    // The key is not logged: a handler may have taken it from the caller.
    spdlog::warn("{}: handler metadata dropped (illegal key or value, {} byte key)", method_name_,
                 key.size());
  }

  // Authentication and authorization of a new call, before any handler (design §7).
  bool Authorize(grpc::ServerContextBase& ctx) {
    TakePeer(ctx);
    decision_ =
        server_->authorizer->Authorize(method_name_, ctx.client_metadata(), peer_, absl::Now());
    return Admitted();
  }

  // Authorize without blocking this queue thread: true when decision_ is in now. False when it
  // waits for a fleet's nonce ledger; `resume` then completes on this call's queue once decision_
  // is in, and the subclass goes on in Proceed(kResume) with Admitted() and then calls
  // server_->EndDeferral().
  bool AuthorizeOrDefer(grpc::ServerContextBase& ctx, grpc::Alarm* alarm, Tag* resume) {
    TakePeer(ctx);
    const absl::Time now = absl::Now();
    if (!server_->BeginDeferral()) {  // shutting down: the queues may close, decide here
      decision_ = server_->authorizer->Authorize(method_name_, ctx.client_metadata(), peer_, now);
      return true;
    }
    std::optional<auth::Decision> decided = server_->authorizer->AuthorizeOrDefer(
        method_name_, ctx.client_metadata(), peer_, now, [this, alarm, resume](auth::Decision d) {
          decision_ = std::move(d);
          alarm->Set(cq_, gpr_now(GPR_CLOCK_MONOTONIC), Armed(resume));
        });
    if (!decided.has_value()) return false;
    server_->EndDeferral();
    decision_ = *std::move(decided);
    return true;
  }

  // Whether the decided call may go on (decision_, then the core's own anonymous-call budget).
  bool Admitted() { return server_->Admit(method_name_, peer_, &decision_, &shed_reason_); }

  void TakePeer(grpc::ServerContextBase& ctx) {
    start_ = std::chrono::steady_clock::now();
    ctx_base_ = &ctx;
    // Taken now: once a call is cancelled, gRPC reports its peer as "unknown".
    if (server_->access_log != nullptr) peer_address_ = ctx.peer();
    auth_context_ = ctx.auth_context();
    peer_ = tls::PeerIdentityFrom(auth_context_.get());
  }

  // Runs a handler with this call's CallInfo. A handler must not throw; if one does, the call
  // fails INTERNAL and the exception never crosses into gRPC.
  template <typename Fn>
  absl::Status Guarded(Fn&& fn) {
    const gpr_timespec raw = ctx_base_->raw_deadline();
    const absl::Time deadline = raw.tv_sec == gpr_inf_future(raw.clock_type).tv_sec
                                    ? absl::InfiniteFuture()
                                    : absl::FromChrono(ctx_base_->deadline());
    CallInfo info{method_name_, decision_.principal, peer_, ctx_base_->client_metadata(), deadline,
                  *this};
    try {
      return fn(info);
    } catch (const std::exception& e) {
      spdlog::error("{}: handler threw: {}", method_name_, e.what());
      return absl::InternalError("internal error");
    }
  }

  grpc::Status RunHandler(const MethodTable::Method& method, const grpc::ByteBuffer& request,
                          grpc::ByteBuffer* response) {
    return ToGrpc(
        Guarded([&](const CallInfo& info) { return method.unary(info, request, response); }));
  }

  void Observe(grpc::ServerContextBase& ctx) { Observe(ctx, status_); }

  void Observe(grpc::ServerContextBase& ctx, const grpc::Status& status) {
    internal::CallRecord r;
    r.method = method_name_;
    r.code = static_cast<int>(status.error_code());
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (server_->access_log != nullptr) {
      r.authority = View(ctx.ExperimentalGetAuthority());
      r.peer_address = peer_address_;
      const auto& md = ctx.client_metadata();
      if (auto it = md.find("user-agent"); it != md.end()) r.user_agent = View(it->second);
    }
    r.peer = &peer_;
    r.decision = &decision_;
    r.shed_reason = shed_reason_;
    server_->Observe(r);
  }

  Server::Impl* const server_;
  grpc::ServerCompletionQueue* const cq_;
  grpc::ServerContextBase* ctx_base_ = nullptr;  // the subclass's context, once requested
  std::chrono::steady_clock::time_point start_;
  std::string method_name_;
  std::shared_ptr<const grpc::AuthContext> auth_context_;  // owns what peer_.pem_cert points into
  tls::PeerIdentity peer_;
  auth::Decision decision_;
  std::string shed_reason_;   // why the core itself refused the call, for the access log
  std::string peer_address_;  // "ipv4:…", for the access log (only when it is on)
  grpc::Status status_;
};

// The unary methods, registered with gRPC one by one as raw async methods. gRPC then hands over
// each call together with its request message, and a unary call needs no done-notification: two
// completion-queue events per call instead of the generic path's four.
class RawUnaryService final : public grpc::Service {
 public:
  explicit RawUnaryService(const std::vector<const MethodTable::Method*>& methods) {
    for (size_t i = 0; i < methods.size(); ++i) {
      // gRPC keeps the name pointer: the table outlives the server.
      AddMethod(new grpc::internal::RpcServiceMethod(
          methods[i]->name.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
      MarkMethodRaw(static_cast<int>(i));
    }
  }
  void Request(int index, grpc::ServerContext* ctx, grpc::ByteBuffer* request,
               grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>* responder,
               grpc::ServerCompletionQueue* cq, void* tag) {
    RequestAsyncUnary(index, ctx, request, responder, cq, cq, tag);
  }
};

// One call of a registered unary method, from request to deletion.
class UnaryCall final : public CallBase {
 public:
  UnaryCall(Server::Impl* server, grpc::ServerCompletionQueue* cq, int index)
      : CallBase(server, cq), index_(index), method_(server->unary_methods[index]) {}

  void Request() {
    static_cast<RawUnaryService*>(server_->unary.get())
        ->Request(index_, &ctx_, &request_, &responder_, cq_, Armed(&request_tag_));
  }

  void Proceed(Tag::Kind kind, bool ok) override {
    if (kind == Tag::kFinish) {
      // Not ok: the status never reached the client (it cancelled, or the deadline passed).
      // Logged from a Status of its own: status_ is not written here, because a worker thread
      // read it inside FinishWithError after Armed() had already released the call to this
      // thread (TSan reported that write in DoesNotRunAQueuedCallWhoseDeadlinePassed).
      if (!ok) {
        Observe(ctx_, EndedEarly(ctx_));
      } else {
        Observe(ctx_);
      }
      delete this;
      return;
    }
    if (kind == Tag::kResume) {  // the ledger has answered
      Server::Impl* server = server_;
      Dispatch();
      // Only now may the queues close: the call's next operation has started on its queue (a
      // batch started on a queue already shut down aborts in gRPC).
      server->EndDeferral();
      return;
    }
    if (!ok) {  // the server is shutting down; this request was never matched
      delete this;
      return;
    }
    server_->RequestUnary(cq_, index_);  // keep a request posted for the next call
    method_name_ = method_->name;
    if (!AuthorizeOrDefer(ctx_, &alarm_, &resume_tag_)) return;
    Dispatch();
  }

 private:
  void Dispatch() {
    if (!Admitted()) {
      status_ = decision_.status;
      responder_.FinishWithError(status_, Armed(&finish_tag_));
      return;
    }
    if (method_->execution == Execution::kInline) return Run();
    if (!server_->workers->Post([this] { RunQueued(); })) {
      server_->refused_queue_full.fetch_add(1, std::memory_order_relaxed);
      status_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "server busy: try again later");
      responder_.FinishWithError(status_, Armed(&finish_tag_));
    }
  }

  // A call that waited in the worker queue past its deadline is not run: its client has given up,
  // and running it would only lengthen the queue behind it.
  void RunQueued() {
    if (ctx_.deadline() <= std::chrono::system_clock::now()) {
      server_->skipped_expired.fetch_add(1, std::memory_order_relaxed);
      status_ = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded in queue");
      responder_.FinishWithError(status_, Armed(&finish_tag_));
      return;
    }
    Run();
  }

  void Run() {
    status_ = RunHandler(*method_, request_, &response_);
    if (status_.ok()) {
      responder_.Finish(response_, status_, Armed(&finish_tag_));
    } else {
      responder_.FinishWithError(status_, Armed(&finish_tag_));
    }
  }

  const int index_;
  const MethodTable::Method* const method_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> responder_{&ctx_};
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  Tag request_tag_{Tag::kRequest, this};
  Tag finish_tag_{Tag::kFinish, this};
  Tag resume_tag_{Tag::kResume, this};
  grpc::Alarm alarm_;  // brings a deferred decision back to this call's queue
};

class StreamCall;

// The sending side of a streaming call (rpc::Stream), safe to use from any thread and after the
// call is gone. All streaming state is guarded by `mu`; unary calls never take it.
class StreamState final : public Stream {
 public:
  explicit StreamState(StreamCall* call) : call_(call) {}
  void Write(grpc::ByteBuffer message) override;
  void Finish(absl::Status status) override;
  bool done() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return call_ == nullptr || ended_ || finish_requested_;
  }

 private:
  friend class StreamCall;
  void StartNextLocked();  // one write, or the finish, at a time

  mutable std::mutex mu_;
  StreamCall* call_;                    // null once the call is deleted
  std::deque<grpc::ByteBuffer> queue_;  // front() is in flight while writing_
  bool writing_ = false;
  bool reading_ = false;
  bool finish_requested_ = false;
  bool initial_sent_ = false;  // the first message or the status has started out
  bool finish_started_ = false;
  bool ended_ = false;  // the call is over (cancelled, client gone, or finished)
  absl::Status finish_status_;
};

// A call on the generic service: a streaming method, or a name no one registered (refused, or
// answered UNIMPLEMENTED). Its tags complete on the queue (and so the thread) it was requested on;
// a handler may write or finish from any thread through its StreamState.
class StreamCall final : public CallBase {
 public:
  StreamCall(Server::Impl* server, grpc::ServerCompletionQueue* cq) : CallBase(server, cq) {}

  void Request() {
    ctx_.AsyncNotifyWhenDone(Armed(&done_tag_));
    server_->generic.RequestCall(&ctx_, &stream_, cq_, cq_, Armed(&request_tag_));
  }

  void Proceed(Tag::Kind kind, bool ok) override {
    switch (kind) {
      case Tag::kRequest:
        return OnRequest(ok);
      case Tag::kRead:
        return OnStreamRead(ok);
      case Tag::kWrite:
        return OnWriteDone(ok);
      case Tag::kFinish:
        return OnFinished();
      case Tag::kDone:
        return OnDone();
      case Tag::kResume:  // a streaming call decides synchronously: never armed
        return;
    }
  }

  // A handler may run while another thread writes or finishes through the stream.
  void AddInitial(std::string_view key, std::string_view value) override {
    std::lock_guard<std::mutex> lock(state_->mu_);
    if (!state_->initial_sent_) CallBase::AddInitial(key, value);
  }
  void AddTrailing(std::string_view key, std::string_view value) override {
    std::lock_guard<std::mutex> lock(state_->mu_);
    if (!state_->finish_started_) CallBase::AddTrailing(key, value);
  }

 private:
  friend class StreamState;

  void OnRequest(bool ok) {
    if (!ok) {  // the server is shutting down; this request was never matched
      delete this;
      return;
    }
    server_->RequestCall(cq_);  // keep a request posted for the next call
    method_name_ = ctx_.method();
    if (!Authorize(ctx_)) return FinishWith(decision_.status);
    method_ = server_->methods->Find(method_name_);
    if (method_ == nullptr || (method_->stream == nullptr && method_->stream_handler == nullptr)) {
      return FinishWith(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                     absl::StrCat("unknown method ", method_name_)));
    }
    // Unary methods are registered (UnaryCall) and never arrive here: this is a streaming call.
    if (server_->streams_open.fetch_add(1, std::memory_order_relaxed) >=
        server_->options.max_streams) {
      server_->streams_open.fetch_sub(1, std::memory_order_relaxed);
      server_->refused_streams.fetch_add(1, std::memory_order_relaxed);
      return FinishWith(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                     "too many open streams on this node (grpc.max_streams)"));
    }
    counted_ = true;
    streaming_ = true;
    state_ = std::make_shared<StreamState>(this);
    absl::Status s;
    if (method_->stream_handler) {
      handler_ = method_->stream_handler();
      s = Guarded([&](const CallInfo& info) { return handler_->OnStart(info, state_); });
    }
    ReadNextOrFinish(s);
  }

  // After a handler ran: finish with its error, stop reading once the call is finishing or
  // over, or else post the next read.
  void ReadNextOrFinish(const absl::Status& s) {
    std::lock_guard<std::mutex> lock(state_->mu_);
    if (!s.ok() && !state_->finish_requested_ && !state_->ended_) {
      state_->finish_requested_ = true;
      state_->finish_status_ = s;
    }
    if (state_->finish_requested_ || state_->ended_) {
      state_->reading_ = false;
      state_->StartNextLocked();
      return;
    }
    state_->reading_ = true;
    stream_.Read(&request_, Armed(&read_tag_));
  }

  void FinishWith(const grpc::Status& status) {
    status_ = status;
    stream_.Finish(status_, Armed(&finish_tag_));
  }

  // Streaming: every message goes to the handler; the next read is posted after it.
  void OnStreamRead(bool ok) {
    if (!ok) {  // half-close, or the call ended (which MaybeDelete tells apart, once done)
      {
        std::lock_guard<std::mutex> lock(state_->mu_);
        state_->reading_ = false;
      }
      if (handler_ != nullptr) {
        absl::Status s =
            Guarded([&](const CallInfo& info) { return handler_->OnHalfClose(info, state_); });
        if (!s.ok()) state_->Finish(s);
      } else if (method_->finish_on_half_close) {
        state_->Finish(absl::OkStatus());
      }
      return MaybeDelete();
    }
    absl::Status s = Guarded([&](const CallInfo& info) {
      return handler_ != nullptr ? handler_->OnMessage(info, request_, state_)
                                 : method_->stream(info, request_, state_);
    });
    ReadNextOrFinish(s);
  }

  void OnWriteDone(bool ok) {
    {
      std::lock_guard<std::mutex> lock(state_->mu_);
      state_->writing_ = false;
      state_->queue_.pop_front();
      if (!ok) {  // the client is gone: nothing more will be sent
        state_->ended_ = true;
        state_->queue_.clear();
      } else {
        state_->StartNextLocked();
      }
    }
    MaybeDelete();
  }

  void OnFinished() {
    finished_ = true;
    if (state_) {
      std::lock_guard<std::mutex> lock(state_->mu_);
      state_->ended_ = true;
    }
    MaybeDelete();
  }

  void OnDone() {
    done_ = true;
    if (state_) {
      std::lock_guard<std::mutex> lock(state_->mu_);
      state_->ended_ = true;
    }
    MaybeDelete();
  }

  // A call is deleted once gRPC has reported it done and no operation of ours is outstanding.
  // It is logged then, and only then: whether the client cancelled is known only once done (a
  // cancelled stream also ends its reads like a half-close, and its Finish may still be issued).
  void MaybeDelete() {
    if (!done_) return;
    if (!streaming_) {
      if (!finished_) return;
      if (ctx_.IsCancelled()) status_ = EndedEarly(ctx_);
      Observe(ctx_);
      delete this;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(state_->mu_);
      if (state_->reading_ || state_->writing_) return;
      if (state_->finish_started_ && !finished_) return;
      state_->call_ = nullptr;  // handlers may still hold the stream; it now drops everything
    }
    if (!finished_ || ctx_.IsCancelled()) status_ = EndedEarly(ctx_);
    Observe(ctx_);
    handler_.reset();
    if (counted_) server_->streams_open.fetch_sub(1, std::memory_order_relaxed);
    delete this;
  }

  grpc::GenericServerContext ctx_;
  grpc::GenericServerAsyncReaderWriter stream_{&ctx_};
  Tag request_tag_{Tag::kRequest, this};
  Tag read_tag_{Tag::kRead, this};
  Tag write_tag_{Tag::kWrite, this};
  Tag finish_tag_{Tag::kFinish, this};
  Tag done_tag_{Tag::kDone, this};

  const MethodTable::Method* method_ = nullptr;
  grpc::ByteBuffer request_;
  bool finished_ = false;
  bool done_ = false;
  bool streaming_ = false;
  bool counted_ = false;                    // holds one of max_streams
  std::shared_ptr<StreamState> state_;      // streaming calls only
  std::unique_ptr<StreamHandler> handler_;  // methods with a StreamHandler factory only
};

void StreamState::Write(grpc::ByteBuffer message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (call_ == nullptr || ended_ || finish_requested_) return;
  queue_.push_back(std::move(message));
  if (!writing_) StartNextLocked();
}

void StreamState::Finish(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (call_ == nullptr || ended_ || finish_requested_) return;
  finish_requested_ = true;
  finish_status_ = std::move(status);
  StartNextLocked();
}

void StreamState::StartNextLocked() {
  if (call_ == nullptr || writing_ || finish_started_) return;
  if (!queue_.empty()) {
    writing_ = true;
    initial_sent_ = true;
    call_->stream_.Write(queue_.front(), Armed(&call_->write_tag_));
    return;
  }
  // The status goes after the queued messages. A read still in flight is allowed (gRPC ends it,
  // not ok, once the status is out); the call is deleted only after it completes.
  if (finish_requested_) {
    initial_sent_ = true;
    finish_started_ = true;
    call_->status_ = ToGrpc(finish_status_);
    call_->stream_.Finish(call_->status_, Armed(&call_->finish_tag_));
  }
}

}  // namespace

void Server::Impl::RequestCall(grpc::ServerCompletionQueue* cq) {
  if (shutting_down.load(std::memory_order_acquire)) return;
  (new StreamCall(this, cq))->Request();
}

void Server::Impl::RequestUnary(grpc::ServerCompletionQueue* cq, int index) {
  if (shutting_down.load(std::memory_order_acquire)) return;
  (new UnaryCall(this, cq, index))->Request();
}

void Server::Impl::Poll(grpc::ServerCompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) {
    Tag* t = static_cast<Tag*>(tag);
    Polled(t);
    t->call->Proceed(t->kind, ok);
  }
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    ServerOptions options, std::shared_ptr<const MethodTable> methods,
    std::shared_ptr<auth::Authorizer> authorizer, std::shared_ptr<observe::AccessLog> access_log,
    std::shared_ptr<observe::Metrics> metrics) {
  if (options.listeners.empty()) return absl::InvalidArgumentError("rpc: no listener");
  if (methods == nullptr || authorizer == nullptr) {
    return absl::InvalidArgumentError("rpc: a method table and an authorizer are required");
  }
  auto impl = std::make_unique<Impl>();
  impl->Init(std::move(options), std::move(methods), std::move(authorizer), std::move(access_log),
             std::move(metrics));
  if (impl->options.engine == Engine::kH2) {
    absl::StatusOr<std::unique_ptr<H2Engine>> h2 = H2Engine::Start(impl.get());
    if (!h2.ok()) return h2.status();
    impl->h2 = *std::move(h2);
    impl->ports = impl->h2->ports();
    return std::unique_ptr<Server>(new Server(std::move(impl)));
  }

  grpc::ServerBuilder builder;
  // Every endpoint is bound and accepted by our own Listener (listener.h says why), then handed
  // to gRPC with that endpoint's credentials.
  for (const ServerOptions::Endpoint& e : impl->options.listeners) {
    absl::StatusOr<std::unique_ptr<Listener>> l =
        Listener::Bind(e.address, impl->options.connection_limits);
    if (!l.ok()) return l.status();
    if (e.plaintext_log != nullptr) (*l)->ScreenPlaintext(e.plaintext_log, e.name);
    impl->ports.push_back((*l)->port());
    impl->listeners.push_back(*std::move(l));
    impl->acceptors.push_back(builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, e.credentials));
  }
  for (const std::string& name : impl->methods->Names()) {
    const MethodTable::Method* m = impl->methods->Find(name);
    if (m->unary) impl->unary_methods.push_back(m);
  }
  if (!impl->unary_methods.empty()) {
    impl->unary = std::make_unique<RawUnaryService>(impl->unary_methods);
    builder.RegisterService(impl->unary.get());
  }
  builder.RegisterAsyncGenericService(&impl->generic);
  // The node serves no channelz service; its per-call counters measured ≈1 % of server CPU.
  builder.AddChannelArgument(GRPC_ARG_ENABLE_CHANNELZ, 0);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             ClampMs(impl->options.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ClampMs(impl->options.idle_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, impl->options.max_concurrent_streams);
  builder.SetMaxReceiveMessageSize(ClampBytes(impl->options.max_receive_message_bytes));
  builder.SetMaxSendMessageSize(ClampBytes(impl->options.max_send_message_bytes));
  int threads = impl->options.threads > 0 ? impl->options.threads : internal::AllowedCpus();
  for (int i = 0; i < threads; ++i) impl->queues.push_back(builder.AddCompletionQueue());
  impl->server = builder.BuildAndStart();
  if (!impl->server) {
    for (auto& cq : impl->queues) {
      cq->Shutdown();
      void* tag;
      bool ok;
      while (cq->Next(&tag, &ok)) {
      }
    }
    return absl::InternalError("rpc: gRPC could not start the server");
  }
  Impl* raw = impl.get();
  for (auto& cq : impl->queues) {
    grpc::ServerCompletionQueue* q = cq.get();
    for (int i = 0; i < kPostedRequests; ++i) raw->RequestCall(q);
    for (size_t m = 0; m < raw->unary_methods.size(); ++m) {
      for (int i = 0; i < kPostedPerMethod; ++i) raw->RequestUnary(q, static_cast<int>(m));
    }
    impl->threads.emplace_back([raw, q] { raw->Poll(q); });
  }
  for (size_t i = 0; i < impl->listeners.size(); ++i) {
    grpc::experimental::ExternalConnectionAcceptor* acceptor = impl->acceptors[i].get();
    impl->listeners[i]->Start([acceptor](int fd) {
      grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
      p.fd = fd;
      acceptor->HandleNewConnection(&p);
    });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

const std::vector<int>& Server::ports() const { return impl_->ports; }

ServerStats Server::stats() const {
  ServerStats s;
  impl_->AddStats(&s);
  if (impl_->h2 != nullptr) {
    s.connections = impl_->h2->connection_stats();
    return s;
  }
  for (const auto& l : impl_->listeners) {
    ListenerStats one = l->stats();
    s.connections.accepted += one.accepted;
    s.connections.open += one.open;
    s.connections.refused_connection_limit += one.refused_connection_limit;
    s.connections.refused_fd_headroom += one.refused_fd_headroom;
    s.connections.accept_errors += one.accept_errors;
  }
  return s;
}

void Server::Shutdown(absl::Duration grace) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.shutdown_mu);
  if (s.shut_down) return;
  s.shut_down = true;
  s.shutting_down.store(true, std::memory_order_release);
  if (s.h2 != nullptr) {
    s.h2->Shutdown(grace);
    return;
  }
  for (auto& l : s.listeners) l->Stop();  // no new connections from here on
  // Calls in flight keep going on the queue threads until `grace`; then gRPC cancels them.
  s.server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  // Deferred decisions resume on the queues: wait until each has (one ledger batch, bounded by
  // the store's statement timeout) before the queues close.
  s.CloseDeferrals();
  s.workers->Stop();
  for (auto& cq : s.queues) cq->Shutdown();
  for (std::thread& t : s.threads) t.join();  // each drains its queue, deleting the calls
  s.server.reset();
  s.queues.clear();
}

}  // namespace nodegate::rpc
