// grpc_interop_client: gRPC's interop client cases, written from gRPC's published interop-test
// descriptions (https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md), in
// C++ with the generated TestService stub and mTLS through nodegate's channel factory.
//
//   grpc_interop_client --server_host 127.0.0.1 --server_port N --ca ca.pem --cert c.pem
//                       --key c-key.pem --test_case NAME [--server_host_override localhost]
//
// Exit 0 and "PASS NAME" when the case holds; exit 1 and "FAIL NAME: why" otherwise.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpc/testing/test.grpc.pb.h"
#include "tls/channel.h"

namespace nodegate::interop {
namespace {

namespace gt = ::grpc::testing;

struct Failure {
  std::string why;
};

void Check(bool ok, const std::string& why) {
  if (!ok) throw Failure{why};
}
void CheckOk(const grpc::Status& s, const std::string& what) {
  Check(s.ok(), absl::StrCat(what, ": status ", s.error_code(), " ", s.error_message()));
}
void CheckCode(const grpc::Status& s, grpc::StatusCode code, const std::string& what) {
  Check(s.error_code() == code,
        absl::StrCat(what, ": want code ", code, ", got ", s.error_code(), " ", s.error_message()));
}

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

gt::Payload Zeros(int size) {
  gt::Payload p;
  p.set_body(std::string(static_cast<size_t>(size), '\0'));
  return p;
}

class Cases {
 public:
  explicit Cases(const std::shared_ptr<grpc::Channel>& channel)
      : channel_(channel), stub_(gt::TestService::NewStub(channel)) {}

  void EmptyUnary() {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    gt::Empty out;
    CheckOk(stub_->EmptyCall(&ctx, gt::Empty(), &out), "EmptyCall");
    Check(out.ByteSizeLong() == 0, "EmptyCall: response not empty");
  }

  void LargeUnary() {
    gt::SimpleRequest req;
    req.set_response_size(314159);
    *req.mutable_payload() = Zeros(271828);
    gt::SimpleResponse out;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    CheckOk(stub_->UnaryCall(&ctx, req, &out), "UnaryCall");
    Check(out.payload().body() == std::string(314159, '\0'), "UnaryCall: payload not 314159 zeros");
  }

  void ClientStreaming() {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    gt::StreamingInputCallResponse out;
    auto stream = stub_->StreamingInputCall(&ctx, &out);
    for (int size : {27182, 8, 1828, 45904}) {
      gt::StreamingInputCallRequest req;
      *req.mutable_payload() = Zeros(size);
      Check(stream->Write(req), "StreamingInputCall: write failed");
    }
    stream->WritesDone();
    CheckOk(stream->Finish(), "StreamingInputCall");
    Check(out.aggregated_payload_size() == 74922,
          absl::StrCat("aggregated_payload_size ", out.aggregated_payload_size(), " != 74922"));
  }

  void ServerStreaming() {
    gt::StreamingOutputCallRequest req;
    const int sizes[] = {31415, 9, 2653, 58979};
    for (int size : sizes) req.add_response_parameters()->set_size(size);
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    auto stream = stub_->StreamingOutputCall(&ctx, req);
    gt::StreamingOutputCallResponse out;
    int n = 0;
    while (stream->Read(&out)) {
      Check(n < 4, "StreamingOutputCall: more than 4 responses");
      Check(out.payload().body() == std::string(static_cast<size_t>(sizes[n]), '\0'),
            absl::StrCat("StreamingOutputCall: response ", n, " has the wrong payload"));
      ++n;
    }
    CheckOk(stream->Finish(), "StreamingOutputCall");
    Check(n == 4, absl::StrCat("StreamingOutputCall: ", n, " responses, want 4"));
  }

  void PingPong() {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    auto stream = stub_->FullDuplexCall(&ctx);
    const int requests[] = {27182, 8, 1828, 45904};
    const int responses[] = {31415, 9, 2653, 58979};
    for (int i = 0; i < 4; ++i) {
      gt::StreamingOutputCallRequest req;
      req.add_response_parameters()->set_size(responses[i]);
      *req.mutable_payload() = Zeros(requests[i]);
      Check(stream->Write(req), "FullDuplexCall: write failed");
      gt::StreamingOutputCallResponse out;
      Check(stream->Read(&out), absl::StrCat("FullDuplexCall: no response ", i));
      Check(out.payload().body().size() == static_cast<size_t>(responses[i]),
            absl::StrCat("FullDuplexCall: response ", i, " has the wrong size"));
    }
    stream->WritesDone();
    gt::StreamingOutputCallResponse extra;
    Check(!stream->Read(&extra), "FullDuplexCall: unexpected fifth response");
    CheckOk(stream->Finish(), "FullDuplexCall");
  }

  void EmptyStream() {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    auto stream = stub_->FullDuplexCall(&ctx);
    stream->WritesDone();
    gt::StreamingOutputCallResponse out;
    Check(!stream->Read(&out), "FullDuplexCall: a response to no request");
    CheckOk(stream->Finish(), "FullDuplexCall");
  }

  void TimeoutOnSleepingServer() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(1));
    auto stream = stub_->FullDuplexCall(&ctx);
    gt::StreamingOutputCallRequest req;
    *req.mutable_payload() = Zeros(27182);
    stream->Write(req);  // may fail: the deadline may already have passed
    CheckCode(stream->Finish(), grpc::StatusCode::DEADLINE_EXCEEDED, "FullDuplexCall");
  }

  void CancelAfterBegin() {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    gt::StreamingInputCallResponse out;
    auto stream = stub_->StreamingInputCall(&ctx, &out);
    ctx.TryCancel();
    CheckCode(stream->Finish(), grpc::StatusCode::CANCELLED, "StreamingInputCall");
  }

  void CancelAfterFirstResponse() {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    auto stream = stub_->FullDuplexCall(&ctx);
    gt::StreamingOutputCallRequest req;
    req.add_response_parameters()->set_size(31415);
    *req.mutable_payload() = Zeros(27182);
    Check(stream->Write(req), "FullDuplexCall: write failed");
    gt::StreamingOutputCallResponse out;
    Check(stream->Read(&out), "FullDuplexCall: no first response");
    ctx.TryCancel();
    CheckCode(stream->Finish(), grpc::StatusCode::CANCELLED, "FullDuplexCall");
  }

  void CustomMetadata() {
    const std::string initial = "test_initial_metadata_value";
    const std::string trailing("\x0a\x0b\x0a\x0b\x0a\x0b", 6);
    auto check = [&](const grpc::ClientContext& ctx, const std::string& what) {
      auto find = [](const std::multimap<grpc::string_ref, grpc::string_ref>& md,
                     const std::string& key) -> std::string {
        auto it = md.find(key);
        return it == md.end() ? "<absent>" : std::string(it->second.data(), it->second.size());
      };
      Check(find(ctx.GetServerInitialMetadata(), "x-grpc-test-echo-initial") == initial,
            what + ": initial metadata not echoed");
      Check(find(ctx.GetServerTrailingMetadata(), "x-grpc-test-echo-trailing-bin") == trailing,
            what + ": trailing metadata not echoed");
    };
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(In(10));
      ctx.AddMetadata("x-grpc-test-echo-initial", initial);
      ctx.AddMetadata("x-grpc-test-echo-trailing-bin", trailing);
      gt::SimpleRequest req;
      req.set_response_size(314159);
      *req.mutable_payload() = Zeros(271828);
      gt::SimpleResponse out;
      CheckOk(stub_->UnaryCall(&ctx, req, &out), "UnaryCall");
      check(ctx, "UnaryCall");
    }
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(In(10));
      ctx.AddMetadata("x-grpc-test-echo-initial", initial);
      ctx.AddMetadata("x-grpc-test-echo-trailing-bin", trailing);
      auto stream = stub_->FullDuplexCall(&ctx);
      gt::StreamingOutputCallRequest req;
      req.add_response_parameters()->set_size(314159);
      *req.mutable_payload() = Zeros(271828);
      Check(stream->Write(req), "FullDuplexCall: write failed");
      gt::StreamingOutputCallResponse out;
      Check(stream->Read(&out), "FullDuplexCall: no response");
      stream->WritesDone();
      Check(!stream->Read(&out), "FullDuplexCall: a second response");
      CheckOk(stream->Finish(), "FullDuplexCall");
      check(ctx, "FullDuplexCall");
    }
  }

  void StatusCodeAndMessage() { EchoStatus("test status message"); }

  void SpecialStatusMessage() {
    EchoStatus("\t\ntest with whitespace\r\nand Unicode BMP \u263A and non-BMP \U0001F608\t\n",
               /*unary_only=*/true);
  }

  void UnimplementedMethod() {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    gt::Empty out;
    CheckCode(stub_->UnimplementedCall(&ctx, gt::Empty(), &out), grpc::StatusCode::UNIMPLEMENTED,
              "TestService/UnimplementedCall");
  }

  void UnimplementedService() {
    auto stub = gt::UnimplementedService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    gt::Empty out;
    CheckCode(stub->UnimplementedCall(&ctx, gt::Empty(), &out), grpc::StatusCode::UNIMPLEMENTED,
              "UnimplementedService/UnimplementedCall");
  }

 private:
  void EchoStatus(const std::string& message, bool unary_only = false) {
    {
      gt::SimpleRequest req;
      req.mutable_response_status()->set_code(2);
      req.mutable_response_status()->set_message(message);
      grpc::ClientContext ctx;
      ctx.set_deadline(In(10));
      gt::SimpleResponse out;
      grpc::Status s = stub_->UnaryCall(&ctx, req, &out);
      CheckCode(s, grpc::StatusCode::UNKNOWN, "UnaryCall");
      Check(s.error_message() == message, "UnaryCall: message not echoed: " + s.error_message());
    }
    if (unary_only) return;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    auto stream = stub_->FullDuplexCall(&ctx);
    gt::StreamingOutputCallRequest req;
    req.mutable_response_status()->set_code(2);
    req.mutable_response_status()->set_message(message);
    Check(stream->Write(req), "FullDuplexCall: write failed");
    stream->WritesDone();
    gt::StreamingOutputCallResponse out;
    while (stream->Read(&out)) {
    }
    grpc::Status s = stream->Finish();
    CheckCode(s, grpc::StatusCode::UNKNOWN, "FullDuplexCall");
    Check(s.error_message() == message, "FullDuplexCall: message not echoed: " + s.error_message());
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<gt::TestService::Stub> stub_;
};

int Run(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--server_host", "127.0.0.1"},
                                              {"--server_port", ""},
                                              {"--server_host_override", ""},
                                              {"--ca", ""},
                                              {"--cert", ""},
                                              {"--key", ""},
                                              {"--test_case", ""}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    if (flags.find(arg) == flags.end()) {
      std::cerr << "grpc_interop_client: unknown flag " << arg << "\n";
      return 2;
    }
    flags[arg] = value;
  }
  tls::ClientTlsOptions o;
  o.target = flags["--server_host"] + ":" + flags["--server_port"];
  o.ca_file = flags["--ca"];
  o.cert_file = flags["--cert"];
  o.key_file = flags["--key"];
  o.server_name = flags["--server_host_override"];
  auto channel = tls::NewChannel(o);
  if (!channel.ok()) {
    std::cerr << "grpc_interop_client: " << channel.status() << "\n";
    return 2;
  }
  Cases cases(*channel);
  const std::map<std::string, std::function<void()>> all = {
      {"empty_unary", [&] { cases.EmptyUnary(); }},
      {"large_unary", [&] { cases.LargeUnary(); }},
      {"client_streaming", [&] { cases.ClientStreaming(); }},
      {"server_streaming", [&] { cases.ServerStreaming(); }},
      {"ping_pong", [&] { cases.PingPong(); }},
      {"empty_stream", [&] { cases.EmptyStream(); }},
      {"timeout_on_sleeping_server", [&] { cases.TimeoutOnSleepingServer(); }},
      {"cancel_after_begin", [&] { cases.CancelAfterBegin(); }},
      {"cancel_after_first_response", [&] { cases.CancelAfterFirstResponse(); }},
      {"custom_metadata", [&] { cases.CustomMetadata(); }},
      {"status_code_and_message", [&] { cases.StatusCodeAndMessage(); }},
      {"special_status_message", [&] { cases.SpecialStatusMessage(); }},
      {"unimplemented_method", [&] { cases.UnimplementedMethod(); }},
      {"unimplemented_service", [&] { cases.UnimplementedService(); }},
  };
  const std::string name = flags["--test_case"];
  auto it = all.find(name);
  if (it == all.end()) {
    std::cerr << "grpc_interop_client: unknown --test_case " << name << "\n";
    return 2;
  }
  try {
    it->second();
  } catch (const Failure& f) {
    std::cout << "FAIL " << name << ": " << f.why << std::endl;
    return 1;
  }
  std::cout << "PASS " << name << std::endl;
  return 0;
}

}  // namespace
}  // namespace nodegate::interop

int main(int argc, char** argv) { return nodegate::interop::Run(argc, argv); }
