// Protobuf messages to and from gRPC byte buffers, for handlers that work on raw buffers.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include "absl/status/status.h"
#include "google/protobuf/message_lite.h"

namespace nodegate::rpc {

// INVALID_ARGUMENT when `in` is not a valid `out` (the wire message names the type, not the bytes).
absl::Status Parse(const grpc::ByteBuffer& in, google::protobuf::MessageLite* out);
absl::Status Serialize(const google::protobuf::MessageLite& in, grpc::ByteBuffer* out);

// Serialize, for messages that always serialize (a freshly built response).
grpc::ByteBuffer ToBuffer(const google::protobuf::MessageLite& in);

}  // namespace nodegate::rpc
