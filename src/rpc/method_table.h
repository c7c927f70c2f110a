// The methods a node serves, as handlers that never see gRPC's server API. A server core
// (rpc::Server) takes each call off the wire, runs the auth::Authorizer on it, and only then hands
// it to the method's handler here together with the verified Principal. Keeping handlers
// independent of the server API is what lets the core be chosen by measurement (docs/benchmarks.md).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/support/byte_buffer.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "auth/principal.h"
#include "rpc/message.h"
#include "tls/peer_identity.h"

namespace nodegate::rpc {

// What a handler may know of its call.
struct CallInfo {
  std::string_view method;           // "/package.Service/Method"
  const auth::Principal& principal;  // verified before the handler runs; kNone on a public call
  const tls::PeerIdentity& peer;     // the transport peer (empty on the loopback h2c listener)
};

// Where a handler runs. kInline: on the thread that took the call off the wire; for CPU-only
// work of microseconds (no I/O, no waiting on a lock held for long). kBlocking: on the core's
// worker threads; for anything that touches the store or the disk (a KV Set waits for fsync).
enum class Execution { kInline, kBlocking };

// The sending side of a streaming call, implemented by the server core. Thread-safe: messages go
// out in the order written; Finish ends the call after them. Anything after Finish, or after the
// call ended (the client cancelled or went away), is dropped.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual void Write(grpc::ByteBuffer message) = 0;
  virtual void Finish(absl::Status status) = 0;
  virtual bool done() const = 0;
};

class MethodTable {
 public:
  using UnaryFn = std::function<absl::Status(const CallInfo&, const grpc::ByteBuffer& request,
                                             grpc::ByteBuffer* response)>;
  // Called once for each message the client sends (inline, on the core's thread: keep it short).
  // A non-OK status finishes the call with it.
  using StreamFn = std::function<absl::Status(const CallInfo&, const grpc::ByteBuffer& request,
                                              const std::shared_ptr<Stream>& stream)>;

  struct Method {
    std::string name;
    Execution execution = Execution::kInline;
    UnaryFn unary;   // set for unary methods
    StreamFn stream; // set for streaming methods
    // Streaming only: when the client half-closes, finish the call OK (bidi request/response
    // streams such as reflection). Otherwise the handler finishes it (server-streaming watches).
    bool finish_on_half_close = true;
  };

  // A unary method over protobuf messages: the request is parsed before `fn` runs (a request that
  // does not parse is answered INVALID_ARGUMENT) and the response serialized after.
  template <typename Request, typename Response>
  void AddUnary(std::string method, Execution execution,
                std::function<absl::Status(const CallInfo&, const Request&, Response*)> fn) {
    Method m;
    m.name = method;
    m.execution = execution;
    m.unary = [fn = std::move(fn)](const CallInfo& call, const grpc::ByteBuffer& in,
                                   grpc::ByteBuffer* out) -> absl::Status {
      Request request;
      if (absl::Status s = Parse(in, &request); !s.ok()) return s;
      Response response;
      if (absl::Status s = fn(call, request, &response); !s.ok()) return s;
      return Serialize(response, out);
    };
    Add(std::move(m));
  }
  void AddStream(std::string method, StreamFn fn, bool finish_on_half_close);

  // Null when the method is not served.
  const Method* Find(std::string_view method) const;
  std::vector<std::string> Names() const;

 private:
  void Add(Method m);
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_;
};

}  // namespace nodegate::rpc
