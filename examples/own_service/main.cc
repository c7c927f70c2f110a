// own_service: a gRPC method of your own (greeter.v1.Greeter/Greet), served by nodegate's server
// core with the node's authorization — the same TLS files (hot-reloaded), the same store of nodes,
// tokens and app keys, the same [[auth.rule]] policy — read from a node config file.
//
//   own_service --config /etc/nodegate/node.toml [--listen 127.0.0.1:9443]
//
// It is what src/server/node.cc does for the node's own services, cut down to one method:
// config → TLS → store → credential cache → policy → Authorizer → MethodTable → rpc::Server.
// The Authorizer runs on every call before the handler; the handler only sees the Principal.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "auth/replay_ledger.h"
#include "auth/store_credential_source.h"
#include "greeter/v1/greeter.pb.h"
#include "rpc/method_table.h"
#include "rpc/server.h"
#include "server/config.h"
#include "store/store_factory.h"
#include "tls/certificate_reloader.h"
#include "tls/server_credentials.h"

namespace {

constexpr char kService[] = "greeter.v1.Greeter";
constexpr char kGreet[] = "/greeter.v1.Greeter/Greet";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "own_service: %s\n", status.ToString().c_str());
  return 1;
}

// Runs until SIGTERM or SIGINT; returns the exit code.
int Serve(const std::string& config_path, std::string listen) {
  using namespace nodegate;
  absl::StatusOr<server::NodeConfig> config = server::LoadNodeConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  if (listen.empty()) listen = config->grpc.listen;

  // TLS: the node's certificate, key, CA and CRL, validated and re-read when they change.
  tls::CertificateReloader::Options reload;
  reload.files = config->tls.files;
  reload.live_dir = config->node.data_dir + "/own-service-tls-live";
  reload.interval = config->tls.reload_interval;
  auto reloader = tls::CertificateReloader::Start(reload);
  if (!reloader.ok()) return Fail(reloader.status());
  auto credentials = tls::NewServerCredentials(**reloader, config->tls.client_auth);
  if (!credentials.ok()) return Fail(credentials.status());

  // Who may call: the node's store (nodes and their keys, tokens, app keys), polled for changes.
  auto stores = store::OpenStores(config->store);
  if (!stores.ok()) return Fail(stores.status());
  std::shared_ptr<store::NodeStore> nodes = std::move(stores->nodes);
  std::shared_ptr<store::CredentialStore> secrets = std::move(stores->credentials);
  auto cache = auth::CredentialCache::Start(
      std::make_shared<auth::StoreCredentialSource>(nodes, secrets), config->auth.credentials_poll,
      base::Clock::Real(), config->auth.credential_max_age);
  if (!cache.ok()) return Fail(cache.status());
  auth::ReplayLedger::Options ledger_options;
  ledger_options.margin = config->auth.restart_margin;
  auto ledger = auth::ReplayLedger::Open(stores->nonces.get(), ledger_options, absl::Now());
  if (!ledger.ok()) return Fail(ledger.status());

  // What each method needs: [[auth.rule]] from the config over our .proto's (nodegate.v1.auth).
  auto proto_rules = auth::RulesFromProtoOptions({kService});
  if (!proto_rules.ok()) return Fail(proto_rules.status());
  auto policy = auth::Policy::Build(config->auth.rules, *std::move(proto_rules));
  if (!policy.ok()) return Fail(policy.status());
  auth::AuthorizerOptions auth_options;
  auth_options.audience = config->node.id;  // what signed calls must name
  auth_options.trust_domain = config->node.trust_domain;
  auth_options.enabled = config->auth.authenticators;
  auth_options.mtls_require_registered = config->auth.mtls_require_registered;
  auth_options.max_skew = config->auth.max_skew;
  auth_options.replay_cache_capacity = config->auth.replay_cache_capacity;
  auth_options.ledger = ledger->get();
  auto authorizer = auth::Authorizer::New(auth_options, *policy, cache->get());
  if (!authorizer.ok()) return Fail(authorizer.status());

  // The method itself: typed request and response, and the caller nodegate verified.
  auto methods = std::make_shared<rpc::MethodTable>();
  methods->AddUnary<greeter::v1::GreetRequest, greeter::v1::GreetResponse>(
      kGreet, rpc::Execution::kInline,
      [](const rpc::CallInfo& call, const greeter::v1::GreetRequest& request,
         greeter::v1::GreetResponse* response) -> absl::Status {
        if (request.name().empty()) return absl::InvalidArgumentError("name: empty");
        response->set_greeting(absl::StrCat("hello, ", request.name()));
        response->set_caller(call.principal.ToString());
        return absl::OkStatus();
      });

  // Block the stop signals before the server's threads start, so that only sigwait sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  rpc::ServerOptions options;
  options.listeners.push_back({listen, *credentials});
  auto server =
      rpc::Server::Start(std::move(options), methods, std::shared_ptr(*std::move(authorizer)),
                         /*access_log=*/nullptr, /*metrics=*/nullptr);
  if (!server.ok()) return Fail(server.status());
  std::fprintf(stderr, "own_service %s listening greeter=%s:%d\n", config->node.id.c_str(),
               listen.substr(0, listen.rfind(':')).c_str(), (*server)->ports()[0]);

  int signal_number = 0;
  sigwait(&stop, &signal_number);
  (*server)->Shutdown(absl::Seconds(5));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  std::string listen;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--config") {
      config = argv[i + 1];
    } else if (flag == "--listen") {
      listen = argv[i + 1];
    }
  }
  if (config.empty()) {
    std::fprintf(stderr, "usage: own_service --config NODE.toml [--listen HOST:PORT]\n");
    return 2;
  }
  return Serve(config, listen);
}
