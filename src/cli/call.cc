// nodegate call dice|whoami|ping: the C++ client over TLS/mTLS through the library's channel
// factory, optionally signing each call or sending a token / app key.
#include <grpcpp/client_context.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "api/dice.grpc.pb.h"
#include "cli/client_flags.h"
#include "cli/commands.h"
#include "nodegate/v1/identity.grpc.pb.h"
#include "nodegate/v1/kv.grpc.pb.h"
#include "nodegate/v1/port.grpc.pb.h"
#include "pki/certificate_info.h"
#include "tls/channel.h"

namespace nodegate::cli {
namespace {

struct CallFlags {
  ClientFlags client;
  std::string timeout = "5s";
  int count = 1;
  bool show_peer = false;
};

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  int c = static_cast<int>(code);
  return c >= 0 && c <= 16 ? kNames[c] : "UNKNOWN";
}

void AddCommonFlags(CLI::App* cmd, CallFlags* f) {
  AddClientFlags(cmd, &f->client);
  cmd->add_option("--count,-n", f->count, "Number of calls, each on a new connection")
      ->capture_default_str();
  cmd->add_option("--timeout", f->timeout, "Deadline per call")->capture_default_str();
}

// Runs `rpc` --count times, each on a fresh channel (so each call does its own handshake and a
// rotated server certificate is visible to the next call).
template <typename Rpc>
void Repeat(const CallFlags& raw, Rpc rpc) {
  CallFlags f = raw;
  ApplyClientConfig(&f.client, "call");
  if (f.client.target.empty()) Fail("call", "no target: give --target or --config", 2);
  if (f.client.ca.empty()) Fail("call", "no CA: give --ca or --config", 2);
  absl::Duration timeout;
  if (!absl::ParseDuration(f.timeout, &timeout) || timeout <= absl::ZeroDuration()) {
    Fail("call", "--timeout: '" + f.timeout + "' is not a positive duration such as 5s", 2);
  }
  if (f.count < 1) Fail("call", "--count must be at least 1", 2);
  tls::ClientTlsOptions options = TlsOptions(f.client);
  std::shared_ptr<grpc::CallCredentials> call_creds = CallCredentials(f.client, "call");
  for (int i = 0; i < f.count; ++i) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = tls::NewChannel(options, call_creds);
    if (!channel.ok()) Fail("call", std::string(channel.status().message()), 2);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    std::string out;
    grpc::Status status = rpc(*channel, ctx, out);
    if (!status.ok()) {
      Fail("call", std::string("call failed: ") + CodeName(status.error_code()) + ": " +
                       status.error_message() + DialFailureHint(f.client, status));
    }
    if (f.show_peer) {
      std::string serial = "?", cn = "?";
      if (auto auth = ctx.auth_context()) {
        auto pem = auth->FindPropertyValues("x509_pem_cert");
        if (!pem.empty()) {
          auto info = pki::InspectCertificatePem(
              std::string(pem.front().data(), pem.front().size()), "server certificate");
          if (info.ok()) {
            serial = info->serial_hex;
            cn = info->common_name;
          }
        }
      }
      out = absl::StrCat("value=", out, " server_serial=", serial, " server_cn=", cn);
    }
    std::cout << out << std::endl;
  }
}

}  // namespace

void AddCallCommand(CLI::App& app) {
  auto* call = app.add_subcommand(
      "call",
      "Call a node over TLS/mTLS, optionally with per-call credentials (signature, token, app "
      "key).\nExit 1 with `call failed: CODE: message` on an RPC error.");
  call->require_subcommand(1);

  auto df = std::make_shared<CallFlags>();
  auto* dice = call->add_subcommand("dice", "api.DiceService/RollDie: prints the face (1..6).");
  AddCommonFlags(dice, df.get());
  dice->add_flag("--show-peer", df->show_peer,
                 "Print value=N server_serial=HEX server_cn=CN (the server's certificate)");
  dice->callback([df] {
    Repeat(*df, [](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx,
                   std::string& out) {
      api::RollDieResponse resp;
      grpc::Status s = api::DiceService::NewStub(ch)->RollDie(&ctx, api::RollDieRequest(), &resp);
      out = std::to_string(resp.value());
      return s;
    });
  });

  auto wf = std::make_shared<CallFlags>();
  auto* whoami = call->add_subcommand(
      "whoami", "nodegate.v1.Identity/WhoAmI: prints the Principal the node sees for you.");
  AddCommonFlags(whoami, wf.get());
  whoami->callback([wf] {
    Repeat(*wf, [](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx,
                   std::string& out) {
      nodegate::v1::WhoAmIResponse resp;
      grpc::Status s =
          nodegate::v1::Identity::NewStub(ch)->WhoAmI(&ctx, nodegate::v1::WhoAmIRequest(), &resp);
      out = resp.kind() + ":" + resp.id() + " roles=" + absl::StrJoin(resp.roles(), ",") +
            " via=" + absl::StrJoin(resp.authenticators(), ",") + " node=" + resp.node_id();
      return s;
    });
  });

  auto portf = std::make_shared<CallFlags>();
  auto job = std::make_shared<std::string>();
  auto release = std::make_shared<bool>(false);
  auto* port = call->add_subcommand(
      "port", "nodegate.v1.PortService: lease a free TCP port for a job (or --release it).");
  AddCommonFlags(port, portf.get());
  port->add_option("--job", *job, "Job code [A-Za-z0-9._-]{1,128}")->required();
  port->add_flag("--release", *release, "Release the job's lease instead");
  port->callback([portf, job, release] {
    Repeat(*portf, [job, release](const std::shared_ptr<grpc::Channel>& ch,
                                  grpc::ClientContext& ctx, std::string& out) {
      auto stub = nodegate::v1::PortService::NewStub(ch);
      if (*release) {
        nodegate::v1::ReleasePortRequest req;
        req.set_job_code(*job);
        nodegate::v1::ReleasePortResponse resp;
        out = "released";
        return stub->ReleasePort(&ctx, req, &resp);
      }
      nodegate::v1::GetFreePortRequest req;
      req.set_job_code(*job);
      nodegate::v1::GetFreePortResponse resp;
      grpc::Status s = stub->GetFreePort(&ctx, req, &resp);
      out = std::to_string(resp.port());
      return s;
    });
  });

  auto kvf = std::make_shared<CallFlags>();
  auto kv_args = std::make_shared<std::vector<std::string>>();
  auto content_type = std::make_shared<std::string>("text/plain");
  auto* kv = call->add_subcommand(
      "kv",
      "nodegate.v1.KeyValue: `kv get KEY`, `kv set KEY VALUE`, `kv delete KEY`, `kv exists KEY`,\n"
      "`kv keys [PREFIX]` (all pages). get prints the value as stored.");
  AddCommonFlags(kv, kvf.get());
  kv->add_option("args", *kv_args, "get|set|delete|exists|keys and its arguments")->required();
  kv->add_option("--content-type", *content_type, "Content type tag for set")
      ->capture_default_str();
  kv->callback([kvf, kv_args, content_type] {
    const std::vector<std::string>& a = *kv_args;
    const std::string& op = a[0];
    size_t want = op == "set" ? 3 : op == "keys" ? 0 : 2;
    if ((op != "keys" && a.size() != want) || (op == "keys" && a.size() > 2) ||
        (op != "get" && op != "set" && op != "delete" && op != "exists" && op != "keys")) {
      Fail("call kv", "usage: kv get KEY | set KEY VALUE | delete KEY | exists KEY | keys [PREFIX]",
           2);
    }
    Repeat(*kvf, [a, content_type](const std::shared_ptr<grpc::Channel>& ch,
                                   grpc::ClientContext& ctx, std::string& out) {
      auto stub = nodegate::v1::KeyValue::NewStub(ch);
      const std::string& op = a[0];
      if (op == "get") {
        nodegate::v1::GetRequest req;
        req.set_key(a[1]);
        nodegate::v1::GetResponse resp;
        grpc::Status s = stub->Get(&ctx, req, &resp);
        out = resp.value();
        return s;
      }
      if (op == "set") {
        nodegate::v1::SetRequest req;
        req.set_key(a[1]);
        req.set_value(a[2]);
        req.set_content_type(*content_type);
        nodegate::v1::SetResponse resp;
        out = "ok";
        return stub->Set(&ctx, req, &resp);
      }
      if (op == "delete") {
        nodegate::v1::DeleteRequest req;
        req.set_key(a[1]);
        nodegate::v1::DeleteResponse resp;
        out = "deleted";
        return stub->Delete(&ctx, req, &resp);
      }
      if (op == "exists") {
        nodegate::v1::ExistsRequest req;
        req.set_key(a[1]);
        nodegate::v1::ExistsResponse resp;
        grpc::Status s = stub->Exists(&ctx, req, &resp);
        out = resp.exists() ? "true" : "false";
        return s;
      }
      // keys: follow the pages on this one channel; each page is its own call.
      std::vector<std::string> keys;
      nodegate::v1::KeysRequest req;
      if (a.size() == 2) req.set_prefix(a[1]);
      req.set_page_size(1000);
      nodegate::v1::KeysResponse resp;
      grpc::Status s = stub->Keys(&ctx, req, &resp);
      while (s.ok()) {
        keys.insert(keys.end(), resp.keys().begin(), resp.keys().end());
        if (resp.next_page_token().empty()) break;
        req.set_page_token(resp.next_page_token());
        grpc::ClientContext next;
        next.set_deadline(ctx.raw_deadline());
        resp.Clear();
        s = stub->Keys(&next, req, &resp);
      }
      out = absl::StrJoin(keys, "\n");
      return s;
    });
  });

  auto pf = std::make_shared<CallFlags>();
  auto* ping = call->add_subcommand("ping", "nodegate.v1.Identity/Ping (public): prints node id.");
  AddCommonFlags(ping, pf.get());
  ping->callback([pf] {
    Repeat(*pf, [](const std::shared_ptr<grpc::Channel>& ch, grpc::ClientContext& ctx,
                   std::string& out) {
      nodegate::v1::PingResponse resp;
      grpc::Status s =
          nodegate::v1::Identity::NewStub(ch)->Ping(&ctx, nodegate::v1::PingRequest(), &resp);
      out = resp.node_id();
      return s;
    });
  });
}

}  // namespace nodegate::cli
