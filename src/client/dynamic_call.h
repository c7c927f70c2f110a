// One call of a method known only by its descriptor, on any channel: requests and responses are
// dynamic messages, sent as bytes through gRPC's generic stub. Any arity — unary, client, server
// and bidirectional streaming — goes through the same code: the wire does not tell them apart.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/metadata.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace nodegate::client {

struct CallOptions {
  absl::Duration timeout = absl::Seconds(10);  // deadline of the whole call
  Metadata metadata;  // added to the call (credentials come from the channel)
};

struct CallResult {
  grpc::Status status;                               // the call's own status
  std::multimap<std::string, std::string> headers;   // the node's initial metadata
  std::multimap<std::string, std::string> trailers;  // and its trailing metadata
  int responses = 0;                                 // messages received
};

// Receives each response, in order, as it arrives; a non-OK status cancels the call.
using ResponseHandler = std::function<absl::Status(const google::protobuf::Message&)>;

// Sends `requests` (messages of method.input_type()) on one call of `method`, half-closes, then
// hands every response (a message of method.output_type(), made by `factory`) to `on_response`.
// The requests all go out before the first response is read: fine for the small request streams
// a command line gives, not a full-duplex pump.
// INVALID_ARGUMENT, before any call, when a unary or server-streaming method is not given exactly
// one request or a request is of another type. Otherwise the call is made and its outcome is in
// CallResult::status; the absl::Status is not OK only if a response did not parse
// (DATA_LOSS) or `on_response` refused one (its status).
absl::StatusOr<CallResult> InvokeMethod(
    const std::shared_ptr<grpc::ChannelInterface>& channel,
    const google::protobuf::MethodDescriptor& method,
    const std::vector<std::unique_ptr<google::protobuf::Message>>& requests,
    google::protobuf::MessageFactory& factory, const CallOptions& options,
    const ResponseHandler& on_response);

}  // namespace nodegate::client
