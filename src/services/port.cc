#include "services/port.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/signature_v1.h"

namespace nodegate::services {

using nodegate::v1::GetFreePortRequest;
using nodegate::v1::GetFreePortResponse;
using nodegate::v1::ReleasePortRequest;
using nodegate::v1::ReleasePortResponse;

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

void PortService::Register(rpc::MethodTable& table) {
  // Leases are store transactions (and GetFreePort probes sockets): off the core's thread.
  table.AddUnary<GetFreePortRequest, GetFreePortResponse>(
      "/nodegate.v1.PortService/GetFreePort", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const GetFreePortRequest& r, GetFreePortResponse* out) {
        return GetFreePort(c, r, out);
      });
  table.AddUnary<ReleasePortRequest, ReleasePortResponse>(
      "/nodegate.v1.PortService/ReleasePort", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const ReleasePortRequest& r, ReleasePortResponse* out) {
        return ReleasePort(c, r, out);
      });
}

namespace {
// A lease belongs to the caller. Where a rule makes the service public, unauthenticated callers
// share one owner, "anonymous" (they cannot be told apart).
std::string LeaseOwner(const rpc::CallInfo& call) {
  std::string owner = call.principal.ToString();
  return owner.empty() ? "anonymous" : owner;
}
}  // namespace

absl::Status PortService::GetFreePort(const rpc::CallInfo& call, const GetFreePortRequest& request,
                                      GetFreePortResponse* response) {
  if (!auth::sigv1::IsValidNodeId(request.job_code())) {
    return absl::InvalidArgumentError("job_code: must be [A-Za-z0-9._-]{1,128}");
  }
  absl::Time now = absl::Now();
  absl::StatusOr<int> port = leases_->Acquire(request.job_code(), LeaseOwner(call), range_.first,
                                              range_.last, range_.lease_ttl, now, IsPortBindable);
  if (!port.ok()) {
    if (absl::IsResourceExhausted(port.status())) {
      return absl::ResourceExhaustedError("no free port left in the configured range");
    }
    return port.status();
  }
  response->set_port(*port);
  response->set_lease_expires_unix_ms(absl::ToUnixMillis(now + range_.lease_ttl));
  return absl::OkStatus();
}

absl::Status PortService::ReleasePort(const rpc::CallInfo& call, const ReleasePortRequest& request,
                                      ReleasePortResponse* /*response*/) {
  return leases_->Release(request.job_code(), LeaseOwner(call), absl::Now());
}

}  // namespace nodegate::services
