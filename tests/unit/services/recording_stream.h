// A test double of the server core's side of a streaming call (rpc::Stream): it records what a
// handler writes and how it finishes, and lets a test end the call as a client that goes away
// would. Everything else in the services' tests is real.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "auth/principal.h"
#include "google/protobuf/message_lite.h"
#include "gtest/gtest.h"
#include "rpc/message.h"
#include "rpc/method_table.h"
#include "tls/peer_identity.h"

namespace nodegate::services::testing {

class RecordingStream final : public rpc::Stream {
 public:
  // Like the core: nothing goes out after Finish or after the call ended. Such writes are only
  // counted, so that a test can tell a handler that forgot the call from one that let it go.
  void Write(grpc::ByteBuffer message) override {
    absl::MutexLock lock(&mu_);
    if (ended_) {
      ++writes_after_end_;
      return;
    }
    written_.push_back(std::move(message));
  }

  void Finish(absl::Status status) override {
    absl::MutexLock lock(&mu_);
    if (ended_) return;
    ended_ = true;
    finish_status_ = std::move(status);
  }

  bool done() const override {
    absl::MutexLock lock(&mu_);
    return ended_;
  }

  // The client cancelled or went away.
  void End() {
    absl::MutexLock lock(&mu_);
    ended_ = true;
  }

  // The written messages, parsed as `T`; a message that does not parse fails the test.
  template <typename T>
  std::vector<T> Messages() const {
    absl::MutexLock lock(&mu_);
    std::vector<T> out;
    for (const grpc::ByteBuffer& b : written_) {
      T m;
      absl::Status s = rpc::Parse(b, &m);
      EXPECT_TRUE(s.ok()) << s;
      out.push_back(std::move(m));
    }
    return out;
  }

  // Unset until the handler finishes the call.
  std::optional<absl::Status> finish_status() const {
    absl::MutexLock lock(&mu_);
    return finish_status_;
  }

  int writes_after_end() const {
    absl::MutexLock lock(&mu_);
    return writes_after_end_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<grpc::ByteBuffer> written_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> finish_status_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  int writes_after_end_ ABSL_GUARDED_BY(mu_) = 0;
};

// Hands one client message of the streaming `method` of `table` to its handler, as the core does
// for each message of an accepted call; the handler's status is what the core would finish with.
inline absl::Status SendBuffer(const rpc::MethodTable& table, std::string_view method,
                               const grpc::ByteBuffer& request,
                               const std::shared_ptr<rpc::Stream>& stream) {
  const rpc::MethodTable::Method* m = table.Find(method);
  if (m == nullptr || !m->stream) {
    ADD_FAILURE() << "no streaming method " << method << " in the table";
    return absl::UnimplementedError("no such method");
  }
  const auth::Principal principal;
  const tls::PeerIdentity peer;
  const rpc::CallInfo::Metadata metadata;
  rpc::DiscardResponseMetadata response_metadata;
  const rpc::CallInfo call{method,           principal, peer, metadata, absl::InfiniteFuture(),
                           response_metadata};
  return m->stream(call, request, stream);
}

inline absl::Status Send(const rpc::MethodTable& table, std::string_view method,
                         const google::protobuf::MessageLite& request,
                         const std::shared_ptr<rpc::Stream>& stream) {
  return SendBuffer(table, method, rpc::ToBuffer(request), stream);
}

}  // namespace nodegate::services::testing
