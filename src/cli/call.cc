// nodegate call dice: the C++ client over mTLS, through the library's channel factory.
#include <iostream>

#include <grpcpp/client_context.h>

#include "absl/time/time.h"
#include "api/dice.grpc.pb.h"
#include "cli/commands.h"
#include "pki/certificate_info.h"
#include "server/config.h"
#include "tls/channel.h"

namespace nodegate::cli {
namespace {

struct CallFlags {
  std::string config, target, ca, cert, key, server_name, timeout = "5s";
  int count = 1;
  bool show_peer = false;
};

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  int c = static_cast<int>(code);
  return c >= 0 && c <= 16 ? kNames[c] : "UNKNOWN";
}

tls::ClientTlsOptions ResolveOptions(const CallFlags& f) {
  tls::ClientTlsOptions o;
  if (!f.config.empty()) {
    absl::StatusOr<server::ClientConfig> c = server::LoadClientConfig(f.config);
    if (!c.ok()) Fail("call", std::string(c.status().message()), 2);
    o = {c->target, c->ca, c->cert, c->key, c->server_name};
  }
  // Flags override the config file.
  if (!f.target.empty()) o.target = f.target;
  if (!f.ca.empty()) o.ca_file = f.ca;
  if (!f.cert.empty()) o.cert_file = f.cert;
  if (!f.key.empty()) o.key_file = f.key;
  if (!f.server_name.empty()) o.server_name = f.server_name;
  if (o.target.empty()) Fail("call", "no target: give --target or --config", 2);
  if (o.ca_file.empty()) Fail("call", "no CA: give --ca or --config", 2);
  return o;
}

void Dice(const CallFlags& f) {
  tls::ClientTlsOptions options = ResolveOptions(f);
  absl::Duration timeout;
  if (!absl::ParseDuration(f.timeout, &timeout) || timeout <= absl::ZeroDuration()) {
    Fail("call", "--timeout: '" + f.timeout + "' is not a positive duration such as 5s", 2);
  }
  if (f.count < 1) Fail("call", "--count must be at least 1", 2);
  for (int i = 0; i < f.count; ++i) {
    // A fresh channel per call: each call does its own handshake, so a rotated server
    // certificate is visible to the next call.
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = tls::NewChannel(options);
    if (!channel.ok()) Fail("call", std::string(channel.status().message()), 2);
    auto stub = api::DiceService::NewStub(*channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    api::RollDieRequest req;
    api::RollDieResponse resp;
    grpc::Status status = stub->RollDie(&ctx, req, &resp);
    if (!status.ok()) {
      Fail("call", std::string("call failed: ") + CodeName(status.error_code()) + ": " +
                       status.error_message());
    }
    if (!f.show_peer) {
      std::cout << resp.value() << std::endl;
      continue;
    }
    std::string serial = "?", cn = "?";
    if (auto auth = ctx.auth_context()) {
      auto pem = auth->FindPropertyValues("x509_pem_cert");
      if (!pem.empty()) {
        auto info = pki::InspectCertificatePem(std::string(pem.front().data(), pem.front().size()),
                                               "server certificate");
        if (info.ok()) {
          serial = info->serial_hex;
          cn = info->common_name;
        }
      }
    }
    std::cout << "value=" << resp.value() << " server_serial=" << serial << " server_cn=" << cn
              << std::endl;
  }
}

}  // namespace

void AddCallCommand(CLI::App& app) {
  auto* call = app.add_subcommand("call", "Call a node's services over TLS/mTLS.");
  call->require_subcommand(1);
  auto* dice = call->add_subcommand(
      "dice",
      "api.DiceService/RollDie: prints the face (1..6). Exit 1 with `call failed: CODE: message`\n"
      "on an RPC error.");
  auto f = std::make_shared<CallFlags>();
  dice->add_option("--config,-c", f->config, "Client config (TOML, [client] table)");
  dice->add_option("--target", f->target, "host:port of the node");
  dice->add_option("--ca", f->ca, "CA bundle that the server certificate must chain to");
  dice->add_option("--cert", f->cert, "Client certificate (mTLS)");
  dice->add_option("--key", f->key, "Client key");
  dice->add_option("--server-name", f->server_name, "Expected server name (default: from target)");
  dice->add_option("--count,-n", f->count, "Number of calls, each on a new connection")
      ->capture_default_str();
  dice->add_option("--timeout", f->timeout, "Deadline per call")->capture_default_str();
  dice->add_flag("--show-peer", f->show_peer,
                 "Print value=N server_serial=HEX server_cn=CN (the server's certificate)");
  dice->callback([f] { Dice(*f); });
}

}  // namespace nodegate::cli
