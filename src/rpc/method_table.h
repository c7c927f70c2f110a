// The methods a node serves, as handlers that never see gRPC's server API. A server core
// (rpc::Server) takes each call off the wire, runs the auth::Authorizer on it, and only then hands
// it to the method's handler here together with the verified Principal. Keeping handlers
// independent of the server API is what lets the core be chosen by measurement
// (docs/benchmarks.md).
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/string_ref.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "auth/principal.h"
#include "rpc/message.h"
#include "tls/peer_identity.h"

namespace nodegate::rpc {

// Metadata a handler sends back, implemented by the server core. Keys are lower-case; a key
// ending in "-bin" carries raw bytes (gRPC base64-encodes them on the wire). Initial metadata is
// taken only until the first response message (or the status) starts out, trailing metadata
// only until the status does; later additions are dropped, and so is what HTTP/2 cannot carry
// (a key outside [0-9a-z_.-], a "grpc-" key, a non-"-bin" value outside printable ASCII). Call it
// from the handler's own invocation (the CallInfo it came with is valid only for that long).
class ResponseMetadata {
 public:
  virtual void AddInitial(std::string_view key, std::string_view value) = 0;
  virtual void AddTrailing(std::string_view key, std::string_view value) = 0;

 protected:
  ~ResponseMetadata() = default;
};

// Drops everything: for running a handler outside a server core (tests, gateways).
class DiscardResponseMetadata final : public ResponseMetadata {
 public:
  void AddInitial(std::string_view, std::string_view) override {}
  void AddTrailing(std::string_view, std::string_view) override {}
};

// What a handler may know of its call. Everything here is borrowed from the core for the
// duration of one handler invocation; copy what must outlive it.
struct CallInfo {
  using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

  std::string_view method;           // "/package.Service/Method"
  const auth::Principal& principal;  // verified before the handler runs; kNone on a public call
  const tls::PeerIdentity& peer;     // the transport peer (empty on the loopback h2c listener)
  // What the client sent (no pseudo-headers): untrusted input, and it holds the call's
  // credentials (authorization, app-secret, signatures) — never log or echo it wholesale.
  const Metadata& request_metadata;
  absl::Time deadline;  // absl::InfiniteFuture() when the client set none
  ResponseMetadata& response_metadata;

  // The first value the client sent under `key` (lower-case), if any. "-bin" values are decoded.
  std::optional<std::string_view> FindMetadata(std::string_view key) const {
    auto it = request_metadata.find(grpc::string_ref(key.data(), key.size()));
    if (it == request_metadata.end()) return std::nullopt;
    return std::string_view(it->second.data(), it->second.size());
  }
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

// A streaming call's handler with per-call state: the core makes one with the method's factory
// for each call it admits and destroys it when the call is over. Every callback runs on the
// core's thread (keep it short); a non-OK status finishes the call with it.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // Once, before the first message is read (initial metadata may be set here).
  virtual absl::Status OnStart(const CallInfo&, const std::shared_ptr<Stream>&) {
    return absl::OkStatus();
  }
  virtual absl::Status OnMessage(const CallInfo& call, const grpc::ByteBuffer& request,
                                 const std::shared_ptr<Stream>& stream) = 0;
  // The client half-closed. The default finishes the call OK after what was written.
  virtual absl::Status OnHalfClose(const CallInfo&, const std::shared_ptr<Stream>& stream) {
    stream->Finish(absl::OkStatus());
    return absl::OkStatus();
  }
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
    UnaryFn unary;    // set for unary methods
    StreamFn stream;  // set for streaming methods
    // Streaming only: when the client half-closes, finish the call OK (bidi request/response
    // streams such as reflection). Otherwise the handler finishes it (server-streaming watches).
    bool finish_on_half_close = true;
    // Set instead of `stream` for streaming methods with per-call state (StreamHandler).
    std::function<std::unique_ptr<StreamHandler>()> stream_handler;
  };

  // A unary method over protobuf messages: the request is parsed before `fn` runs (a request that
  // does not parse is answered INVALID_ARGUMENT) and the response serialized after.
  template <typename Request, typename Response>
  void AddUnary(std::string method, Execution execution,
                std::function<absl::Status(const CallInfo&, const Request&, Response*)> fn) {
    Method m;
    m.name = std::move(method);
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
  void AddStreamHandler(std::string method,
                        std::function<std::unique_ptr<StreamHandler>()> factory);

  // Null when the method is not served.
  const Method* Find(std::string_view method) const;
  std::vector<std::string> Names() const;

 private:
  void Add(Method m);
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_;
};

}  // namespace nodegate::rpc
