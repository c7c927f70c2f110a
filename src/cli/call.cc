// nodegate call /pkg.Service/Method -d JSON: any method, message types from the node's reflection
// service or --proto files, requests and responses as proto3 JSON (src/client/ does the work).
// nodegate call dice|whoami|port|kv|ping: shortcuts with generated stubs. Both go over TLS/mTLS
// through the library's channel factory, optionally signing each call or sending a token / app
// key, with -H metadata.
#include <grpcpp/client_context.h>

#include <iostream>
#include <iterator>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "api/dice.grpc.pb.h"
#include "base/files.h"
#include "cli/client_flags.h"
#include "cli/commands.h"
#include "cli/descriptor_flags.h"
#include "client/dynamic_call.h"
#include "client/json_messages.h"
#include "google/protobuf/dynamic_message.h"
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
  std::vector<std::string> headers;
};

const std::vector<std::string>& Shortcuts() {
  static const std::vector<std::string> kShortcuts = {"dice", "whoami", "port", "kv", "ping"};
  return kShortcuts;
}

void AddCommonFlags(CLI::App* cmd, CallFlags* f) {
  AddClientFlags(cmd, &f->client);
  cmd->add_option("--count,-n", f->count, "Number of calls, each on a new connection")
      ->capture_default_str();
  cmd->add_option("--timeout", f->timeout, "Deadline per call")->capture_default_str();
  cmd->add_option("-H,--header", f->headers, "Metadata 'key: value' (repeatable)")
      ->allow_extra_args(false);
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
  absl::StatusOr<client::Metadata> metadata = client::ParseHeaders(f.headers);
  if (!metadata.ok()) Fail("call", std::string(metadata.status().message()), kUsageExit);
  tls::ClientTlsOptions options = TlsOptions(f.client);
  std::shared_ptr<grpc::CallCredentials> call_creds = CallCredentials(f.client, "call");
  for (int i = 0; i < f.count; ++i) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = tls::NewChannel(options, call_creds);
    if (!channel.ok()) Fail("call", std::string(channel.status().message()), 2);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    for (const auto& [key, value] : *metadata) ctx.AddMetadata(key, value);
    std::string out;
    grpc::Status status = rpc(*channel, ctx, out);
    if (!status.ok()) FailRpc("call", "call failed", status, DialFailureHint(f.client, status));
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

// `call /pkg.Service/Method`: the generic call.
struct GenericFlags {
  DescriptorFlags descriptors;
  std::string method;
  std::string data;
  CLI::Option* data_option = nullptr;  // whether -d was given at all
  bool emit_defaults = false, pretty = false, verbose = false;
};

// The request text: -d's JSON, @FILE's content, or stdin for "-"; without -d, one empty message.
std::string RequestText(const GenericFlags& g) {
  if (g.data_option->count() == 0) return "{}";
  if (g.data == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  if (absl::StartsWith(g.data, "@")) {
    absl::StatusOr<std::string> text = base::ReadFile(g.data.substr(1));
    if (!text.ok()) {
      Fail("call", "-d " + g.data + ": " + std::string(text.status().message()), kUsageExit);
    }
    return *std::move(text);
  }
  return g.data;
}

void PrintMetadata(const char* what, const std::multimap<std::string, std::string>& metadata) {
  std::cerr << what << ":" << (metadata.empty() ? " (none)" : "") << '\n';
  for (const auto& [key, value] : metadata) {
    std::cerr << "  " << key << ": "
              << (absl::EndsWith(key, "-bin") ? absl::Base64Escape(value) : value) << '\n';
  }
}

void RunGeneric(const GenericFlags& g) {
  // A word without a dot or slash is a mistyped shortcut, not a method.
  if (g.method.find_first_of("./") == std::string::npos) {
    FailUnknownCommand("call", g.method, Shortcuts());
  }
  const std::string request_text = RequestText(g);
  // Malformed JSON is said before any connection; whether it fits the type, once that is known.
  if (absl::StatusOr<std::vector<std::string>> values = client::SplitJsonValues(request_text);
      !values.ok()) {
    Fail("call", "-d: " + std::string(values.status().message()), kUsageExit);
  }
  Session session = OpenSession(g.descriptors, "call");
  absl::StatusOr<const google::protobuf::MethodDescriptor*> method =
      client::FindMethod(*session.source, g.method);
  if (!method.ok()) {
    FailStatus("call", method.status(), g.descriptors.client,
               absl::IsInvalidArgument(method.status()) ? kUsageExit : 1);
  }
  google::protobuf::DynamicMessageFactory factory;  // outlives the messages below
  absl::StatusOr<std::vector<std::unique_ptr<google::protobuf::Message>>> requests =
      client::ParseJsonMessages(*(*method)->input_type(), request_text, factory);
  if (!requests.ok()) Fail("call", "-d: " + std::string(requests.status().message()), kUsageExit);
  const client::JsonOutput output{g.pretty, g.emit_defaults};
  absl::StatusOr<client::CallResult> result = client::InvokeMethod(
      session.channel, **method, *requests, factory,
      client::CallOptions{session.timeout, session.metadata},
      [&output](const google::protobuf::Message& response) -> absl::Status {
        absl::StatusOr<std::string> json = client::ToJson(response, output);
        if (!json.ok()) return json.status();
        std::cout << *json << std::endl;  // flushed: a stream's messages show as they come
        return absl::OkStatus();
      });
  if (!result.ok()) {
    FailStatus("call", result.status(), g.descriptors.client,
               absl::IsInvalidArgument(result.status()) ? kUsageExit : 1);
  }
  if (g.verbose) {
    PrintMetadata("response headers", result->headers);
    PrintMetadata("response trailers", result->trailers);
  }
  if (!result->status.ok()) {
    FailRpc("call", "call failed", result->status,
            DialFailureHint(g.descriptors.client, result->status));
  }
}

}  // namespace

void AddCallCommand(CLI::App& app) {
  auto* call = app.add_subcommand(
      "call",
      "Call any method of a node: `call /pkg.Service/Method -d JSON` (types from the node's\n"
      "reflection service, or --proto), or a shortcut below. Over TLS/mTLS, optionally with\n"
      "per-call credentials (signature, token, app key) and -H metadata. Responses print as JSON,\n"
      "one per line. Exit 64 + the gRPC code on an RPC error (UNAUTHENTICATED: 80).");
  call->require_subcommand(0, 1);
  auto gf = std::make_shared<GenericFlags>();
  call->add_option("method", gf->method,
                   "Full method name: /package.Service/Method (or package.Service.Method)");
  gf->data_option = call->add_option(
      "-d,--data", gf->data,
      "Request as JSON; several values in a row for a client stream; @FILE reads a file, - reads\n"
      "stdin. Without -d: one empty message");
  AddDescriptorFlags(call, &gf->descriptors);
  call->add_flag("--emit-defaults", gf->emit_defaults,
                 "Print fields that hold their default value too");
  call->add_flag("--pretty", gf->pretty, "Indent the JSON over several lines");
  call->add_flag("-v,--verbose", gf->verbose, "Print the response headers and trailers to stderr");
  call->callback([call, gf] {
    if (!call->get_subcommands().empty()) return;  // a shortcut ran
    if (gf->method.empty()) {
      std::cerr << call->help();
      Fail("call",
           "give a method (/package.Service/Method) or a shortcut: " +
               absl::StrJoin(Shortcuts(), ", "),
           kUsageExit);
    }
    RunGeneric(*gf);
  });

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
