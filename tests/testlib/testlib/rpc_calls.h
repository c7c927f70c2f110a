// Calls through an rpc::MethodTable the way the server core makes them (request serialized into a
// buffer, response parsed back out), and a test double of the core's side of a streaming call.
#pragma once

#include <grpcpp/support/byte_buffer.h>

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

namespace nodegate::testlib {

// Runs the unary `method` of `table` on an already-serialized request, as the core does once the
// Authorizer has accepted the call as `principal`; parses the response into `response` on OK.
absl::Status CallBuffer(const rpc::MethodTable& table, std::string_view method,
                        const grpc::ByteBuffer& request, google::protobuf::MessageLite* response,
                        const auth::Principal& principal = auth::Principal());

absl::Status Call(const rpc::MethodTable& table, std::string_view method,
                  const google::protobuf::MessageLite& request,
                  google::protobuf::MessageLite* response,
                  const auth::Principal& principal = auth::Principal());

// Hands one client message of the streaming `method` of `table` to its handler, as the core does
// for each message of an accepted call; the handler's status is what the core would finish with.
absl::Status SendBuffer(const rpc::MethodTable& table, std::string_view method,
                        const grpc::ByteBuffer& request,
                        const std::shared_ptr<rpc::Stream>& stream);

absl::Status Send(const rpc::MethodTable& table, std::string_view method,
                  const google::protobuf::MessageLite& request,
                  const std::shared_ptr<rpc::Stream>& stream);

// Bytes that are no protobuf message: a length-delimited field 1 that claims 5 bytes and has 2.
grpc::ByteBuffer TruncatedMessage();

// The core's side of a streaming call: records what a handler writes and how it finishes, and lets
// a test end the call as a client that goes away would.
class RecordingStream final : public rpc::Stream {
 public:
  // Like the core: nothing goes out after Finish or after the call ended. Such writes are only
  // counted, so that a test can tell a handler that forgot the call from one that let it go.
  void Write(grpc::ByteBuffer message) override;
  void Finish(absl::Status status) override;
  bool done() const override;

  // The client cancelled or went away.
  void End();

  // The written messages, parsed as `T`; a message that does not parse fails the test.
  template <typename T>
  std::vector<T> Messages() const {
    std::vector<T> out;
    for (const grpc::ByteBuffer& b : written()) {
      T m;
      absl::Status s = rpc::Parse(b, &m);
      EXPECT_TRUE(s.ok()) << s;
      out.push_back(std::move(m));
    }
    return out;
  }

  // Unset until the handler finishes the call.
  std::optional<absl::Status> finish_status() const;
  int writes_after_end() const;

 private:
  std::vector<grpc::ByteBuffer> written() const;

  mutable absl::Mutex mu_;
  std::vector<grpc::ByteBuffer> written_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> finish_status_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  int writes_after_end_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace nodegate::testlib
