// nodegate.v1.PortService: leases a TCP port that is free on this host to a job.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "nodegate/v1/port.pb.h"
#include "rpc/method_table.h"
#include "store/lease_store.h"

namespace nodegate::services {

struct PortRange {
  int first = 20000;
  int last = 20999;
  absl::Duration lease_ttl = absl::Hours(1);
};

// True when a TCP socket can bind `port` on all local addresses right now.
bool IsPortBindable(int port);

class PortService {
 public:
  PortService(std::shared_ptr<store::LeaseStore> leases, PortRange range)
      : leases_(std::move(leases)), range_(range) {}

  // Adds nodegate.v1.PortService's methods to `table`.
  void Register(rpc::MethodTable& table);

  absl::Status GetFreePort(const rpc::CallInfo& call,
                           const nodegate::v1::GetFreePortRequest& request,
                           nodegate::v1::GetFreePortResponse* response);
  absl::Status ReleasePort(const rpc::CallInfo& call,
                           const nodegate::v1::ReleasePortRequest& request,
                           nodegate::v1::ReleasePortResponse* response);

 private:
  std::shared_ptr<store::LeaseStore> leases_;
  const PortRange range_;
};

}  // namespace nodegate::services
