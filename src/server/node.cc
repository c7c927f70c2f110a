#include "server/node.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "observe/access_log.h"
#include "observe/access_log_interceptor.h"
#include "services/dice.h"
#include "spdlog/spdlog.h"
#include "tls/certificate_reloader.h"
#include "tls/server_credentials.h"

namespace nodegate::server {

struct Node::Parts {
  std::unique_ptr<tls::CertificateReloader> reloader;
  std::shared_ptr<observe::AccessLog> access_log;
  services::DiceService dice;
  std::unique_ptr<grpc::Server> server;
};

absl::StatusOr<std::unique_ptr<Node>> Node::Create(const NodeConfig& config) {
  std::unique_ptr<Node> node(new Node());
  node->parts_ = std::make_unique<Parts>();
  Parts& p = *node->parts_;

  if (absl::Status s = base::MakeDirs(config.node.data_dir, 0700); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("node.data_dir: ", s.message()));
  }
  tls::CertificateReloader::Options reload;
  reload.files = config.tls.files;
  reload.live_dir = config.node.data_dir + "/tls-live";
  reload.interval = config.tls.reload_interval;
  absl::StatusOr<std::unique_ptr<tls::CertificateReloader>> reloader =
      tls::CertificateReloader::Start(reload);
  if (!reloader.ok()) return reloader.status();
  p.reloader = *std::move(reloader);

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
      tls::NewServerCredentials(*p.reloader, config.tls.client_auth);
  if (!creds.ok()) return creds.status();

  absl::StatusOr<std::shared_ptr<observe::AccessLog>> access_log =
      observe::AccessLog::Open(config.log.access_log);
  if (!access_log.ok()) return access_log.status();
  p.access_log = *std::move(access_log);

  if (config.grpc.health) grpc::EnableDefaultHealthCheckService(true);
  if (config.grpc.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.grpc.listen, *creds, &port);
  builder.RegisterService(&p.dice);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  if (p.access_log->enabled()) {
    interceptors.push_back(std::make_unique<observe::AccessLogInterceptorFactory>(p.access_log));
  }
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  p.server = builder.BuildAndStart();
  if (!p.server || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("grpc.listen: cannot listen on ", config.grpc.listen,
                     " (address in use, or not a local address)"));
  }
  if (config.grpc.health) {
    p.server->GetHealthCheckService()->SetServingStatus(true);
  }
  std::string host = config.grpc.listen.substr(0, config.grpc.listen.rfind(':'));
  node->grpc_address_ = absl::StrCat(host, ":", port);
  const auto& leaf = p.reloader->current()->leaf;
  spdlog::info("node {}: tls serial {} subject {} expires {}; client_auth={}; reload every {}",
               config.node.id, leaf.serial_hex, leaf.subject,
               absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", leaf.not_after, absl::UTCTimeZone()),
               std::string(tls::ClientAuthName(config.tls.client_auth)),
               absl::FormatDuration(config.tls.reload_interval));
  return node;
}

Node::~Node() {
  if (parts_ && parts_->server) Shutdown(absl::ZeroDuration());
}

absl::Status Node::Reload() { return parts_->reloader->CheckNow(); }

void Node::Shutdown(absl::Duration grace) {
  Parts& p = *parts_;
  if (!p.server) return;
  if (auto* health = p.server->GetHealthCheckService()) health->SetServingStatus(false);
  p.server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  p.server->Wait();
  p.server.reset();
  if (p.access_log) p.access_log->Flush();
}

}  // namespace nodegate::server
