// A server interceptor that writes one access-log line per call with its final status.
// Interceptors only observe (design §7): they never decide whether a call runs.
#pragma once

#include <memory>

#include <grpcpp/support/server_interceptor.h>

#include "observe/access_log.h"

namespace nodegate::observe {

class AccessLogInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AccessLogInterceptorFactory(std::shared_ptr<AccessLog> log) : log_(std::move(log)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  std::shared_ptr<AccessLog> log_;
};

}  // namespace nodegate::observe
