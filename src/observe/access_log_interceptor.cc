#include "observe/access_log_interceptor.h"

#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <chrono>

namespace nodegate::observe {
namespace {

class AccessLogInterceptor : public grpc::experimental::Interceptor {
 public:
  AccessLogInterceptor(grpc::experimental::ServerRpcInfo* info, AccessLog* log,
                       const AccessLogInterceptorFactory::PrincipalFn* principal_of,
                       Metrics* metrics)
      : info_(info),
        log_(log),
        principal_of_(principal_of),
        metrics_(metrics),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (log_ != nullptr &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = methods->GetRecvInitialMetadata();
      if (md != nullptr) {
        auto it = md->find("user-agent");
        if (it != md->end()) record_.user_agent.assign(it->second.data(), it->second.size());
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      record_.code = static_cast<int>(methods->GetSendStatus().error_code());
      Finish();
    }
    methods->Proceed();
  }

 private:
  void Finish() {
    auto end = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(end - start_).count();
    if (metrics_ != nullptr) metrics_->RecordCall(info_->method(), record_.code, seconds);
    if (log_ == nullptr) return;
    record_.time = absl::Now();
    record_.duration_ms = seconds * 1000.0;
    record_.method = info_->method();
    grpc::ServerContextBase* ctx = info_->server_context();
    if (ctx != nullptr) {
      grpc::string_ref authority = ctx->ExperimentalGetAuthority();
      record_.authority.assign(authority.data(), authority.size());
      record_.peer = ctx->peer();
      if (principal_of_ != nullptr && *principal_of_) {
        AccessLogInterceptorFactory::Caller caller = (*principal_of_)(*ctx, info_->method());
        record_.principal = std::move(caller.principal);
        record_.client_cn = std::move(caller.client_cn);
      } else if (std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context()) {
        auto cn = auth->FindPropertyValues("x509_common_name");
        if (!cn.empty()) record_.client_cn.assign(cn.front().data(), cn.front().size());
      }
    }
    log_->Write(record_);
  }

  grpc::experimental::ServerRpcInfo* info_;
  AccessLog* log_;  // null when the access log is off
  const AccessLogInterceptorFactory::PrincipalFn* principal_of_;
  Metrics* metrics_;
  std::chrono::steady_clock::time_point start_;
  AccessRecord record_;
};

}  // namespace

grpc::experimental::Interceptor* AccessLogInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  AccessLog* log = log_ && log_->enabled() ? log_.get() : nullptr;
  if (log == nullptr && metrics_ == nullptr) return nullptr;
  // gRPC owns and deletes interceptors.
  return new AccessLogInterceptor(info, log, &principal_of_, metrics_.get());
}

}  // namespace nodegate::observe
