#include "testlib/rpc_calls.h"

#include <string>

#include "tls/peer_identity.h"

namespace nodegate::testlib {
namespace {

// The call as the core hands it to a handler: no peer certificate, no metadata, no deadline.
struct CoreCall {
  explicit CoreCall(std::string_view method, const auth::Principal& principal)
      : info{method, principal, peer, metadata, absl::InfiniteFuture(), response_metadata} {}

  const tls::PeerIdentity peer;
  const rpc::CallInfo::Metadata metadata;
  rpc::DiscardResponseMetadata response_metadata;
  const rpc::CallInfo info;
};

}  // namespace

absl::Status CallBuffer(const rpc::MethodTable& table, std::string_view method,
                        const grpc::ByteBuffer& request, google::protobuf::MessageLite* response,
                        const auth::Principal& principal) {
  const rpc::MethodTable::Method* m = table.Find(method);
  if (m == nullptr || !m->unary) {
    ADD_FAILURE() << "no unary method " << method << " in the table";
    return absl::UnimplementedError("no such method");
  }
  CoreCall call(method, principal);
  grpc::ByteBuffer out;
  if (absl::Status s = m->unary(call.info, request, &out); !s.ok()) return s;
  return rpc::Parse(out, response);
}

absl::Status Call(const rpc::MethodTable& table, std::string_view method,
                  const google::protobuf::MessageLite& request,
                  google::protobuf::MessageLite* response, const auth::Principal& principal) {
  return CallBuffer(table, method, rpc::ToBuffer(request), response, principal);
}

absl::Status SendBuffer(const rpc::MethodTable& table, std::string_view method,
                        const grpc::ByteBuffer& request,
                        const std::shared_ptr<rpc::Stream>& stream) {
  const rpc::MethodTable::Method* m = table.Find(method);
  if (m == nullptr || !m->stream) {
    ADD_FAILURE() << "no streaming method " << method << " in the table";
    return absl::UnimplementedError("no such method");
  }
  const auth::Principal principal;
  CoreCall call(method, principal);
  return m->stream(call.info, request, stream);
}

absl::Status Send(const rpc::MethodTable& table, std::string_view method,
                  const google::protobuf::MessageLite& request,
                  const std::shared_ptr<rpc::Stream>& stream) {
  return SendBuffer(table, method, rpc::ToBuffer(request), stream);
}

grpc::ByteBuffer TruncatedMessage() {
  grpc::Slice slice(std::string{'\x0a', '\x05', 'a', 'b'});
  return grpc::ByteBuffer(&slice, 1);
}

void RecordingStream::Write(grpc::ByteBuffer message) {
  absl::MutexLock lock(&mu_);
  if (ended_) {
    ++writes_after_end_;
    return;
  }
  written_.push_back(std::move(message));
}

void RecordingStream::Finish(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (ended_) return;
  ended_ = true;
  finish_status_ = std::move(status);
}

bool RecordingStream::done() const {
  absl::MutexLock lock(&mu_);
  return ended_;
}

void RecordingStream::End() {
  absl::MutexLock lock(&mu_);
  ended_ = true;
}

std::optional<absl::Status> RecordingStream::finish_status() const {
  absl::MutexLock lock(&mu_);
  return finish_status_;
}

int RecordingStream::writes_after_end() const {
  absl::MutexLock lock(&mu_);
  return writes_after_end_;
}

std::vector<grpc::ByteBuffer> RecordingStream::written() const {
  absl::MutexLock lock(&mu_);
  return written_;
}

}  // namespace nodegate::testlib
