// A server interceptor that records each call's final status and latency in Metrics and writes one
// access-log line per call.
// Interceptors only observe (design §7): they never decide whether a call runs.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <memory>
#include <string>

#include "observe/access_log.h"
#include "observe/metrics.h"

namespace nodegate::observe {

class AccessLogInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `principal_of` (optional) names the caller of a call ("node:a") and the peer certificate's CN
  // (one AuthContext lookup serves both); it must not block.
  struct Caller {
    std::string principal;
    std::string client_cn;
  };
  using PrincipalFn =
      std::function<Caller(const grpc::ServerContextBase&, std::string_view full_method)>;
  AccessLogInterceptorFactory(std::shared_ptr<AccessLog> log, PrincipalFn principal_of = nullptr,
                              std::shared_ptr<Metrics> metrics = nullptr)
      : log_(std::move(log)),
        principal_of_(std::move(principal_of)),
        metrics_(std::move(metrics)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  std::shared_ptr<AccessLog> log_;
  PrincipalFn principal_of_;
  std::shared_ptr<Metrics> metrics_;
};

}  // namespace nodegate::observe
