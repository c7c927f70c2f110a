#include "services/health.h"

#include <utility>

#include "rpc/message.h"
#include "store/absl_view.h"

namespace nodegate::services {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr char kCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kWatch[] = "/grpc.health.v1.Health/Watch";

grpc::ByteBuffer StatusMessage(HealthService::ServingStatus status) {
  HealthCheckResponse response;
  response.set_status(status);
  return rpc::ToBuffer(response);
}

absl::flat_hash_set<std::string> KnownServices(std::vector<std::string> services) {
  absl::flat_hash_set<std::string> known;
  known.reserve(services.size() + 1);
  for (std::string& s : services) known.insert(std::move(s));
  known.insert("");
  return known;
}

}  // namespace

HealthService::HealthService(std::vector<std::string> services)
    : services_(KnownServices(std::move(services))) {}

HealthService::ServingStatus HealthService::Status(std::string_view service) const {
  if (!services_.contains(store::AbslView(service))) return HealthCheckResponse::SERVICE_UNKNOWN;
  return serving_.load(std::memory_order_acquire) ? HealthCheckResponse::SERVING
                                                  : HealthCheckResponse::NOT_SERVING;
}

void HealthService::SetServing(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_ || serving_.load(std::memory_order_relaxed) == serving) return;
  serving_.store(serving, std::memory_order_release);
  NotifyLocked();
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  shut_down_ = true;
  serving_.store(false, std::memory_order_release);
  // Every watcher's last message is NOT_SERVING, even one already told so or one watching an
  // unknown name (gRPC's Shutdown does the same), so that it reads as final before the stream ends.
  DropEndedLocked();
  const grpc::ByteBuffer not_serving = StatusMessage(HealthCheckResponse::NOT_SERVING);
  for (const auto& [stream, service] : watchers_) {
    stream->Write(not_serving);
    stream->Finish(absl::OkStatus());
  }
  watchers_.clear();
}

void HealthService::Register(rpc::MethodTable& table) {
  table.AddUnary<HealthCheckRequest, HealthCheckResponse>(
      kCheck, rpc::Execution::kInline,
      [this](const rpc::CallInfo&, const HealthCheckRequest& request,
             HealthCheckResponse* response) { return Check(request, response); });
  // A watch ends when the node shuts down or the client goes away, not when the client has sent
  // its one request.
  table.AddStream(
      kWatch,
      [this](const rpc::CallInfo&, const grpc::ByteBuffer& request,
             const std::shared_ptr<rpc::Stream>& stream) { return Watch(request, stream); },
      /*finish_on_half_close=*/false);
}

absl::Status HealthService::Check(const HealthCheckRequest& request,
                                  HealthCheckResponse* response) const {
  ServingStatus status = Status(request.service());
  // gRPC's own health service answers an unknown name with this status and message.
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) return absl::NotFoundError("unknown service");
  response->set_status(status);
  return absl::OkStatus();
}

absl::Status HealthService::Watch(const grpc::ByteBuffer& request,
                                  const std::shared_ptr<rpc::Stream>& stream) {
  HealthCheckRequest parsed;
  if (absl::Status s = rpc::Parse(request, &parsed); !s.ok()) return s;

  absl::MutexLock lock(&mu_);
  // Watch is server-streaming: a generated client sends exactly one request. A second one would
  // otherwise silently change what the stream watches.
  if (watchers_.contains(stream)) {
    return absl::InvalidArgumentError("health: Watch takes a single request");
  }
  DropEndedLocked();
  // Written under mu_, like every update, so the stream sees its statuses in the order they
  // happened (Stream::Write only queues).
  stream->Write(StatusMessage(Status(parsed.service())));
  if (shut_down_) {
    stream->Finish(absl::OkStatus());
    return absl::OkStatus();
  }
  watchers_.emplace(stream, std::move(*parsed.mutable_service()));
  return absl::OkStatus();
}

void HealthService::NotifyLocked() {
  DropEndedLocked();
  // Both statuses are built once: a drain notifies every watcher at the same moment.
  const ServingStatus now = serving_.load(std::memory_order_relaxed)
                                ? HealthCheckResponse::SERVING
                                : HealthCheckResponse::NOT_SERVING;
  const grpc::ByteBuffer message = StatusMessage(now);
  for (const auto& [stream, service] : watchers_) {
    // The status of an unknown name never changes.
    if (services_.contains(service)) stream->Write(message);
  }
}

void HealthService::DropEndedLocked() {
  // Without this a client that watches and goes away, again and again, would grow the map until
  // the next status change, which may not come before shutdown.
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->first->done()) {
      watchers_.erase(it++);
    } else {
      ++it;
    }
  }
}

}  // namespace nodegate::services
