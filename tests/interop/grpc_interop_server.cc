// grpc_interop_server: gRPC's interop TestService on nodegate's own server core (rpc::Server),
// with the behaviour gRPC's interop-test descriptions ask of a test server
// (https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md), so that stock
// interop clients (Python, Go, C++: tests/interop/test_grpc_interop.py) exercise the core.
//
//   grpc_interop_server --listen 127.0.0.1:0 --cert server.pem --key server-key.pem --ca ca.pem
//                       [--access_log stderr|stdout|off|FILE] [--live_dir DIR]
//                       [--engine grpc|h2]
//
// mTLS is required; the policy denies by default and lets any authenticated caller reach
// /grpc.testing.TestService/*. grpc.testing.UnimplementedService is not served (UNIMPLEMENTED).
// Prints "listening grpc=HOST:PORT" on stderr once serving; stops on SIGTERM or SIGINT.
#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "grpc/testing/empty.pb.h"
#include "grpc/testing/messages.pb.h"
#include "observe/access_log.h"
#include "rpc/message.h"
#include "rpc/method_table.h"
#include "rpc/server.h"
#include "tls/certificate_reloader.h"
#include "tls/server_credentials.h"
#include "tls/ssl_context.h"

namespace nodegate::interop {
namespace {

namespace gt = ::grpc::testing;

constexpr char kService[] = "/grpc.testing.TestService/";
constexpr char kEchoInitial[] = "x-grpc-test-echo-initial";
constexpr char kEchoTrailing[] = "x-grpc-test-echo-trailing-bin";
// Larger answers than this are refused: a test client asks for at most a few hundred KiB.
constexpr int kMaxResponseSize = 4 << 20;

// The test server knows no nodes, tokens or app keys: mTLS is the only credential.
class NoCredentials : public auth::CredentialSource {
 public:
  absl::StatusOr<uint64_t> Generation() override { return 1; }
  absl::StatusOr<auth::CredentialSnapshot> Load() override { return auth::CredentialSnapshot(); }
};

// The interop spec: echo the client's x-grpc-test-echo-initial as initial metadata and its
// x-grpc-test-echo-trailing-bin as trailing metadata.
void EchoMetadata(const rpc::CallInfo& call) {
  if (auto v = call.FindMetadata(kEchoInitial)) call.response_metadata.AddInitial(kEchoInitial, *v);
  if (auto v = call.FindMetadata(kEchoTrailing)) {
    call.response_metadata.AddTrailing(kEchoTrailing, *v);
  }
}

// A non-OK status when the client asked for one (response_status), else OK.
absl::Status RequestedStatus(const gt::EchoStatus& s) {
  if (s.code() == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.code()), s.message());
}

absl::Status FillPayload(int size, gt::Payload* payload) {
  if (size < 0 || size > kMaxResponseSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("response size ", size, " outside [0, ", kMaxResponseSize, "]"));
  }
  payload->set_type(gt::COMPRESSABLE);
  payload->mutable_body()->assign(static_cast<size_t>(size), '\0');
  return absl::OkStatus();
}

absl::Status Unary(const rpc::CallInfo& call, const gt::SimpleRequest& request,
                   gt::SimpleResponse* response) {
  EchoMetadata(call);
  if (absl::Status s = RequestedStatus(request.response_status()); !s.ok()) return s;
  if (request.fill_username()) response->set_username(call.principal.ToString());
  if (request.response_size() > 0) {
    return FillPayload(request.response_size(), response->mutable_payload());
  }
  return absl::OkStatus();
}

// Writes one response per ResponseParameters, then finishes with response_status if one is
// asked for. interval_us is not honoured: handlers run on the core's thread and must not sleep
// (no case in tests/interop uses it).
absl::Status Answer(const gt::StreamingOutputCallRequest& request, rpc::Stream& stream) {
  for (const gt::ResponseParameters& p : request.response_parameters()) {
    gt::StreamingOutputCallResponse out;
    if (absl::Status s = FillPayload(p.size(), out.mutable_payload()); !s.ok()) return s;
    stream.Write(rpc::ToBuffer(out));
  }
  return RequestedStatus(request.response_status());
}

// StreamingOutputCall (one request, then the answers) and FullDuplexCall (answers per request).
// The half-close default finishes OK after what was written.
class DuplexHandler : public rpc::StreamHandler {
 public:
  absl::Status OnStart(const rpc::CallInfo& call, const std::shared_ptr<rpc::Stream>&) override {
    EchoMetadata(call);
    return absl::OkStatus();
  }
  absl::Status OnMessage(const rpc::CallInfo&, const grpc::ByteBuffer& in,
                         const std::shared_ptr<rpc::Stream>& stream) override {
    gt::StreamingOutputCallRequest request;
    if (absl::Status s = rpc::Parse(in, &request); !s.ok()) return s;
    return Answer(request, *stream);
  }
};

// HalfDuplexCall: every request is answered only once the client half-closes.
class HalfDuplexHandler : public rpc::StreamHandler {
 public:
  absl::Status OnMessage(const rpc::CallInfo&, const grpc::ByteBuffer& in,
                         const std::shared_ptr<rpc::Stream>&) override {
    gt::StreamingOutputCallRequest& request = requests_.emplace_back();
    return rpc::Parse(in, &request);
  }
  absl::Status OnHalfClose(const rpc::CallInfo&,
                           const std::shared_ptr<rpc::Stream>& stream) override {
    for (const auto& request : requests_) {
      if (absl::Status s = Answer(request, *stream); !s.ok()) return s;
    }
    stream->Finish(absl::OkStatus());
    return absl::OkStatus();
  }

 private:
  std::vector<gt::StreamingOutputCallRequest> requests_;
};

// StreamingInputCall: the sum of the payload sizes, answered at half-close.
class InputHandler : public rpc::StreamHandler {
 public:
  absl::Status OnStart(const rpc::CallInfo& call, const std::shared_ptr<rpc::Stream>&) override {
    EchoMetadata(call);
    return absl::OkStatus();
  }
  absl::Status OnMessage(const rpc::CallInfo&, const grpc::ByteBuffer& in,
                         const std::shared_ptr<rpc::Stream>&) override {
    gt::StreamingInputCallRequest request;
    if (absl::Status s = rpc::Parse(in, &request); !s.ok()) return s;
    total_ += static_cast<int64_t>(request.payload().body().size());
    return absl::OkStatus();
  }
  absl::Status OnHalfClose(const rpc::CallInfo&,
                           const std::shared_ptr<rpc::Stream>& stream) override {
    gt::StreamingInputCallResponse response;
    response.set_aggregated_payload_size(static_cast<int32_t>(total_));
    stream->Write(rpc::ToBuffer(response));
    stream->Finish(absl::OkStatus());
    return absl::OkStatus();
  }

 private:
  int64_t total_ = 0;
};

std::shared_ptr<const rpc::MethodTable> TestService() {
  auto table = std::make_shared<rpc::MethodTable>();
  auto name = [](const char* method) { return absl::StrCat(kService, method); };
  table->AddUnary<gt::Empty, gt::Empty>(
      name("EmptyCall"), rpc::Execution::kInline,
      [](const rpc::CallInfo& call, const gt::Empty&, gt::Empty*) {
        EchoMetadata(call);
        return absl::OkStatus();
      });
  table->AddUnary<gt::SimpleRequest, gt::SimpleResponse>(name("UnaryCall"), rpc::Execution::kInline,
                                                         Unary);
  table->AddUnary<gt::SimpleRequest, gt::SimpleResponse>(name("CacheableUnaryCall"),
                                                         rpc::Execution::kInline, Unary);
  auto duplex = [] { return std::make_unique<DuplexHandler>(); };
  table->AddStreamHandler(name("StreamingOutputCall"), duplex);
  table->AddStreamHandler(name("FullDuplexCall"), duplex);
  table->AddStreamHandler(name("HalfDuplexCall"),
                          [] { return std::make_unique<HalfDuplexHandler>(); });
  table->AddStreamHandler(name("StreamingInputCall"),
                          [] { return std::make_unique<InputHandler>(); });
  // UnimplementedCall is deliberately absent: the core answers it UNIMPLEMENTED.
  return table;
}

struct Flags {
  std::string listen, cert, key, ca, access_log = "stderr", live_dir, engine = "grpc";
};

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  std::map<std::string, std::string*> known = {{"--listen", &f.listen},
                                               {"--cert", &f.cert},
                                               {"--key", &f.key},
                                               {"--ca", &f.ca},
                                               {"--access_log", &f.access_log},
                                               {"--live_dir", &f.live_dir},
                                               {"--engine", &f.engine}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    auto it = known.find(arg);
    if (it == known.end()) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
    *it->second = value;
  }
  if (f.listen.empty() || f.cert.empty() || f.key.empty() || f.ca.empty()) {
    return absl::InvalidArgumentError("--listen, --cert, --key and --ca are required");
  }
  return f;
}

int Run(int argc, char** argv) {
  absl::StatusOr<Flags> flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::cerr << "grpc_interop_server: " << flags.status().message() << "\n";
    return 2;
  }
  // Block the stop signals before any thread starts, so that only sigwait below sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::string live_dir = flags->live_dir;
  if (live_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "interop-tls-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::cerr << "grpc_interop_server: mkdtemp failed\n";
      return 1;
    }
    live_dir = tmpl;
  }
  tls::CertificateReloader::Options reload;
  reload.files = {flags->cert, flags->key, flags->ca, ""};
  reload.live_dir = live_dir;
  auto reloader = tls::CertificateReloader::Start(reload);
  if (!reloader.ok()) {
    std::cerr << "grpc_interop_server: " << reloader.status() << "\n";
    return 1;
  }
  auto creds = tls::NewServerCredentials(**reloader, tls::ClientAuth::kRequire);
  auto cache =
      auth::CredentialCache::Start(std::make_shared<NoCredentials>(), absl::ZeroDuration());
  // Default deny; the TestService to any authenticated caller (here: a client certificate).
  std::vector<auth::Rule> rules = {{"/grpc.testing.TestService/*", false, 0, {}, "config"}};
  auto policy = auth::Policy::Build(rules, {});
  if (!creds.ok() || !cache.ok() || !policy.ok()) {
    std::cerr << "grpc_interop_server: start-up failed\n";
    return 1;
  }
  auth::AuthorizerOptions auth_options;
  auth_options.audience = "grpc-interop-server";
  auto authorizer = auth::Authorizer::New(auth_options, *policy, cache->get());
  auto access_log = observe::AccessLog::Open(flags->access_log);
  if (!authorizer.ok() || !access_log.ok()) {
    std::cerr << "grpc_interop_server: "
              << (!authorizer.ok() ? authorizer.status() : access_log.status()) << "\n";
    return 1;
  }
  rpc::ServerOptions options;
  options.listeners.push_back({flags->listen, *creds, nullptr, "grpc", {}});
  std::unique_ptr<tls::SslContextFollower> h2_tls;
  if (flags->engine == "h2") {
    auto follower = tls::SslContextFollower::New([r = reloader->get()] { return r->current(); },
                                                 tls::ClientAuth::kRequire, "grpc");
    if (!follower.ok()) {
      std::cerr << "grpc_interop_server: " << follower.status() << "\n";
      return 1;
    }
    h2_tls = *std::move(follower);
    options.engine = rpc::Engine::kH2;
    options.listeners.back().tls_context = [f = h2_tls.get()] { return f->context(); };
  } else if (flags->engine != "grpc") {
    std::cerr << "grpc_interop_server: --engine: grpc or h2\n";
    return 2;
  }
  auto server =
      rpc::Server::Start(options, TestService(), std::move(*authorizer), *access_log, nullptr);
  if (!server.ok()) {
    std::cerr << "grpc_interop_server: " << server.status() << "\n";
    return 1;
  }
  std::string host = flags->listen.substr(0, flags->listen.rfind(':'));
  std::cerr << "listening grpc=" << host << ":" << (*server)->ports()[0] << std::endl;

  int sig = 0;
  sigwait(&stop, &sig);
  (*server)->Shutdown(absl::Seconds(2));
  (*access_log)->Flush();
  if (flags->live_dir.empty()) std::filesystem::remove_all(live_dir);
  return 0;
}

}  // namespace
}  // namespace nodegate::interop

int main(int argc, char** argv) { return nodegate::interop::Run(argc, argv); }
