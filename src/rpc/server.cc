#include "rpc/server.h"

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

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace nodegate::rpc {
namespace {

// Requests kept posted on each completion queue, so that a burst of new calls finds one waiting.
constexpr int kPostedRequests = 32;

int AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::string_view View(const grpc::string_ref& s) { return std::string_view(s.data(), s.size()); }

// Runs Execution::kBlocking handlers, so that a store write waiting for fsync never holds up a
// completion-queue thread (and with it every other call on that queue).
class WorkerPool {
 public:
  explicit WorkerPool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Stop(); }

  void Post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopped_) {
        jobs_.push_back(std::move(job));
        wake_.notify_one();
        return;
      }
    }
    job();  // stopping: run it here rather than lose the call
  }

  // Runs every queued job, then joins the threads.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [this] { return stopped_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

class Call;

}  // namespace

struct Server::Impl {
  ServerOptions options;
  std::shared_ptr<const MethodTable> methods;
  std::shared_ptr<auth::Authorizer> authorizer;
  observe::AccessLog* access_log = nullptr;  // null when off
  std::shared_ptr<observe::AccessLog> access_log_owner;
  std::shared_ptr<observe::Metrics> metrics;

  grpc::AsyncGenericService generic;
  std::unique_ptr<grpc::Server> server;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  std::vector<std::thread> threads;
  std::unique_ptr<WorkerPool> workers;
  std::vector<int> ports;
  std::atomic<bool> shutting_down{false};
  std::mutex shutdown_mu;
  bool shut_down = false;

  void RequestCall(grpc::ServerCompletionQueue* cq);
  void Poll(grpc::ServerCompletionQueue* cq);
};

namespace {

// A completion-queue tag: which operation of which call completed.
struct Tag {
  enum Kind { kRequest, kRead, kWrite, kFinish, kDone };
  Kind kind;
  Call* call;
};

// The sending side of a streaming call (rpc::Stream), safe to use from any thread and after the
// call is gone. All streaming state is guarded by `mu`; unary calls never take it.
class StreamState final : public Stream {
 public:
  explicit StreamState(Call* call) : call_(call) {}
  void Write(grpc::ByteBuffer message) override;
  void Finish(absl::Status status) override;
  bool done() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return call_ == nullptr || ended_ || finish_requested_;
  }

 private:
  friend class Call;
  void StartNextLocked();  // one write, or the finish, at a time

  mutable std::mutex mu_;
  Call* call_;            // null once the call is deleted
  std::deque<grpc::ByteBuffer> queue_;  // front() is in flight while writing_
  bool writing_ = false;
  bool reading_ = false;
  bool finish_requested_ = false;
  bool finish_started_ = false;
  bool ended_ = false;  // the call is over (cancelled, client gone, or finished)
  absl::Status finish_status_;
};

// One call from request to deletion. Its tags complete on the one queue (and so the one thread) it
// was requested on; a kBlocking handler runs on a worker, which only starts the final operation.
class Call {
 public:
  Call(Server::Impl* server, grpc::ServerCompletionQueue* cq) : server_(server), cq_(cq) {}

  void Request() {
    ctx_.AsyncNotifyWhenDone(&done_tag_);
    server_->generic.RequestCall(&ctx_, &stream_, cq_, cq_, &request_tag_);
  }

  void Proceed(Tag::Kind kind, bool ok) {
    switch (kind) {
      case Tag::kRequest: return OnRequest(ok);
      case Tag::kRead: return streaming_ ? OnStreamRead(ok) : OnUnaryRead(ok);
      case Tag::kWrite: return OnWriteDone(ok);
      case Tag::kFinish: return OnFinished();
      case Tag::kDone: return OnDone();
    }
  }

 private:
  friend class StreamState;

  void OnRequest(bool ok) {
    if (!ok) {  // the server is shutting down; this request was never matched
      delete this;
      return;
    }
    server_->RequestCall(cq_);  // keep a request posted for the next call
    start_ = std::chrono::steady_clock::now();
    method_name_ = ctx_.method();
    auth_context_ = ctx_.auth_context();
    peer_ = tls::PeerIdentityFrom(auth_context_.get());
    // Authentication and authorization, before any handler (design §7).
    decision_ = server_->authorizer->Authorize(method_name_, ctx_.client_metadata(), peer_,
                                               absl::Now());
    if (!decision_.status.ok()) return FinishWith(decision_.status);
    method_ = server_->methods->Find(method_name_);
    if (method_ == nullptr) {
      return FinishWith(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                     absl::StrCat("unknown method ", method_name_)));
    }
    if (method_->unary) {
      stream_.Read(&request_, &read_tag_);
      return;
    }
    streaming_ = true;
    state_ = std::make_shared<StreamState>(this);
    std::lock_guard<std::mutex> lock(state_->mu_);
    state_->reading_ = true;
    stream_.Read(&request_, &read_tag_);
  }

  void OnUnaryRead(bool ok) {
    if (!ok) {
      return FinishWith(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                     "request: the client sent no message"));
    }
    if (method_->execution == Execution::kInline) return RunUnary();
    server_->workers->Post([this] { RunUnary(); });
  }

  void RunUnary() {
    CallInfo info{method_name_, decision_.principal, peer_};
    absl::Status s;
    try {
      s = method_->unary(info, request_, &response_);
    } catch (const std::exception& e) {  // a handler must not throw; never let it cross gRPC
      spdlog::error("{}: handler threw: {}", method_name_, e.what());
      s = absl::InternalError("internal error");
    }
    if (!s.ok()) return FinishWith(ToGrpc(s));
    status_ = grpc::Status::OK;
    stream_.WriteAndFinish(response_, grpc::WriteOptions(), status_, &finish_tag_);
  }

  void FinishWith(const grpc::Status& status) {
    status_ = status;
    stream_.Finish(status_, &finish_tag_);
  }

  // Streaming: every message goes to the handler; the next read is posted after it.
  void OnStreamRead(bool ok) {
    if (!ok) {  // half-close, or the call ended
      bool finish;
      {
        std::lock_guard<std::mutex> lock(state_->mu_);
        state_->reading_ = false;
        finish = method_->finish_on_half_close;
      }
      if (finish) state_->Finish(absl::OkStatus());
      return MaybeDelete();
    }
    CallInfo info{method_name_, decision_.principal, peer_};
    absl::Status s;
    try {
      s = method_->stream(info, request_, state_);
    } catch (const std::exception& e) {
      spdlog::error("{}: handler threw: {}", method_name_, e.what());
      s = absl::InternalError("internal error");
    }
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
    stream_.Read(&request_, &read_tag_);
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
    Observe();
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
  void MaybeDelete() {
    if (!done_) return;
    if (!streaming_) {
      if (finished_) delete this;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(state_->mu_);
      if (state_->reading_ || state_->writing_) return;
      if (state_->finish_started_ && !finished_) return;
      state_->call_ = nullptr;  // handlers may still hold the stream; it now drops everything
    }
    if (!finished_) {  // cancelled before it finished: still one line in the log
      status_ = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      Observe();
    }
    delete this;
  }

  void Observe() {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    int code = static_cast<int>(status_.error_code());
    if (server_->metrics) server_->metrics->RecordCall(method_name_, code, seconds);
    observe::AccessLog* log = server_->access_log;
    if (log == nullptr) return;
    observe::AccessRecord r;
    r.time = absl::Now();
    r.authority = ctx_.host();
    r.peer = ctx_.peer();
    r.method = method_name_;
    r.code = code;
    r.duration_ms = seconds * 1000.0;
    const auto& md = ctx_.client_metadata();
    if (auto it = md.find("user-agent"); it != md.end()) r.user_agent = View(it->second);
    r.client_cn = peer_.common_name;
    r.principal = decision_.principal.ToString();
    if (decision_.rejection != auth::Rejection::kCount) {
      r.reason = absl::StrCat(std::string(auth::RejectionName(decision_.rejection)),
                              decision_.detail.empty() ? "" : ": ", decision_.detail);
    }
    log->Write(r);
  }

  Server::Impl* const server_;
  grpc::ServerCompletionQueue* const cq_;
  grpc::GenericServerContext ctx_;
  grpc::GenericServerAsyncReaderWriter stream_{&ctx_};
  Tag request_tag_{Tag::kRequest, this};
  Tag read_tag_{Tag::kRead, this};
  Tag write_tag_{Tag::kWrite, this};
  Tag finish_tag_{Tag::kFinish, this};
  Tag done_tag_{Tag::kDone, this};

  std::chrono::steady_clock::time_point start_;
  std::string method_name_;
  std::shared_ptr<const grpc::AuthContext> auth_context_;  // owns what peer_.pem_cert points into
  tls::PeerIdentity peer_;
  auth::Decision decision_;
  const MethodTable::Method* method_ = nullptr;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  grpc::Status status_;
  bool finished_ = false;
  bool done_ = false;
  bool streaming_ = false;
  std::shared_ptr<StreamState> state_;  // streaming calls only
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
    call_->stream_.Write(queue_.front(), &call_->write_tag_);
    return;
  }
  // The status goes after the queued messages. A read still in flight is allowed (gRPC ends it,
  // not ok, once the status is out); the call is deleted only after it completes.
  if (finish_requested_) {
    finish_started_ = true;
    call_->status_ = ToGrpc(finish_status_);
    call_->stream_.Finish(call_->status_, &call_->finish_tag_);
  }
}

}  // namespace

void Server::Impl::RequestCall(grpc::ServerCompletionQueue* cq) {
  if (shutting_down.load(std::memory_order_acquire)) return;
  (new Call(this, cq))->Request();
}

void Server::Impl::Poll(grpc::ServerCompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) {
    Tag* t = static_cast<Tag*>(tag);
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
  impl->options = std::move(options);
  impl->methods = std::move(methods);
  impl->authorizer = std::move(authorizer);
  impl->access_log_owner = std::move(access_log);
  if (impl->access_log_owner && impl->access_log_owner->enabled()) {
    impl->access_log = impl->access_log_owner.get();
  }
  impl->metrics = std::move(metrics);

  grpc::ServerBuilder builder;
  impl->ports.assign(impl->options.listeners.size(), 0);
  for (size_t i = 0; i < impl->options.listeners.size(); ++i) {
    const ServerOptions::Listener& l = impl->options.listeners[i];
    builder.AddListeningPort(l.address, l.credentials, &impl->ports[i]);
  }
  builder.RegisterAsyncGenericService(&impl->generic);
  int threads = impl->options.threads > 0 ? impl->options.threads : AllowedCpus();
  for (int i = 0; i < threads; ++i) impl->queues.push_back(builder.AddCompletionQueue());
  impl->server = builder.BuildAndStart();
  for (size_t i = 0; i < impl->ports.size(); ++i) {
    if (!impl->server || impl->ports[i] == 0) {
      if (impl->server) impl->server->Shutdown();
      impl->server.reset();  // before its queues
      for (auto& cq : impl->queues) {
        cq->Shutdown();
        void* tag;
        bool ok;
        while (cq->Next(&tag, &ok)) {
        }
      }
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", impl->options.listeners[i].address,
          " (address in use, or not a local address)"));
    }
  }
  impl->workers = std::make_unique<WorkerPool>(std::max(1, impl->options.blocking_threads));
  Impl* raw = impl.get();
  for (auto& cq : impl->queues) {
    grpc::ServerCompletionQueue* q = cq.get();
    for (int i = 0; i < kPostedRequests; ++i) raw->RequestCall(q);
    impl->threads.emplace_back([raw, q] { raw->Poll(q); });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

const std::vector<int>& Server::ports() const { return impl_->ports; }

void Server::Shutdown(absl::Duration grace) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.shutdown_mu);
  if (s.shut_down) return;
  s.shut_down = true;
  s.shutting_down.store(true, std::memory_order_release);
  // Calls in flight keep going on the queue threads until `grace`; then gRPC cancels them.
  s.server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  s.workers->Stop();
  for (auto& cq : s.queues) cq->Shutdown();
  for (std::thread& t : s.threads) t.join();  // each drains its queue, deleting the calls
  s.server.reset();
  s.queues.clear();
}

}  // namespace nodegate::rpc
