// The node's gRPC server core, on gRPC's completion-queue async API. Every call, whatever its
// method, arrives through one generic service; the thread that takes it off its completion queue
// runs the auth::Authorizer on the call's metadata and peer certificate *before* any handler
// (design §7: no AuthMetadataProcessor, no thread hop), then runs the handler (inline, or on a
// worker for handlers that block), sends the answer, and records the call in the access log and
// the metrics. One completion queue and one thread per CPU the process may run on.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/authorizer.h"
#include "observe/access_log.h"
#include "observe/metrics.h"
#include "rpc/method_table.h"

namespace nodegate::rpc {

struct ServerOptions {
  struct Listener {
    std::string address;  // "host:port"; port 0 picks a free one
    std::shared_ptr<grpc::ServerCredentials> credentials;
  };
  std::vector<Listener> listeners;
  int threads = 0;           // completion-queue threads; 0 = the CPUs this process may run on
  int blocking_threads = 4;  // workers for Execution::kBlocking handlers
};

class Server {
 public:
  // Binds every listener and starts serving `methods`. `access_log` and `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      ServerOptions options, std::shared_ptr<const MethodTable> methods,
      std::shared_ptr<auth::Authorizer> authorizer, std::shared_ptr<observe::AccessLog> access_log,
      std::shared_ptr<observe::Metrics> metrics);
  ~Server();

  // The port each listener bound, in the order given (resolves port 0).
  const std::vector<int>& ports() const;
  // Stops accepting calls, lets calls in flight finish until `grace`, then cancels the rest and
  // stops every thread. Idempotent.
  void Shutdown(absl::Duration grace);

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nodegate::rpc
