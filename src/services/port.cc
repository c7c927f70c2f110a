#include "services/port.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/signature_v1.h"
#include "services/status.h"

namespace nodegate::services {

bool IsPortBindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

grpc::ServerUnaryReactor* PortService::GetFreePort(grpc::CallbackServerContext* context,
                                                   const nodegate::v1::GetFreePortRequest* request,
                                                   nodegate::v1::GetFreePortResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!auth::sigv1::IsValidNodeId(request->job_code())) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "job_code: must be [A-Za-z0-9._-]{1,128}"));
    return reactor;
  }
  absl::Time now = absl::Now();
  absl::StatusOr<int> port = leases_->Acquire(request->job_code(), range_.first, range_.last,
                                              range_.lease_ttl, now, IsPortBindable);
  if (!port.ok()) {
    if (absl::IsResourceExhausted(port.status())) {
      reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "no free port left in the configured range"));
    } else {
      reactor->Finish(ToGrpc(port.status()));
    }
    return reactor;
  }
  response->set_port(*port);
  response->set_lease_expires_unix_ms(absl::ToUnixMillis(now + range_.lease_ttl));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PortService::ReleasePort(grpc::CallbackServerContext* context,
                                                   const nodegate::v1::ReleasePortRequest* request,
                                                   nodegate::v1::ReleasePortResponse*) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(leases_->Release(request->job_code())));
  return reactor;
}

}  // namespace nodegate::services
