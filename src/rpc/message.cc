#include "rpc/message.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include "absl/strings/str_cat.h"

namespace nodegate::rpc {

absl::Status Parse(const grpc::ByteBuffer& in, google::protobuf::MessageLite* out) {
  if (in.Length() == 0) {  // an empty message (RollDie's request): nothing to parse
    out->Clear();
    return absl::OkStatus();
  }
  // ProtoBufferReader reads the slices in place; it needs a mutable buffer only to walk them.
  grpc::ByteBuffer copy(in);  // shares the slices (reference counted), copies no payload
  grpc::ProtoBufferReader reader(&copy);
  if (!out->ParseFromZeroCopyStream(&reader)) {
    return absl::InvalidArgumentError(
        absl::StrCat("request: not a valid ", std::string(out->GetTypeName())));
  }
  return absl::OkStatus();
}

absl::Status Serialize(const google::protobuf::MessageLite& in, grpc::ByteBuffer* out) {
  bool own = false;
  grpc::Status s =
      grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::MessageLite>(in, out, &own);
  if (!s.ok()) {
    return absl::InternalError(
        absl::StrCat("response: cannot serialize ", std::string(in.GetTypeName())));
  }
  return absl::OkStatus();
}

grpc::ByteBuffer ToBuffer(const google::protobuf::MessageLite& in) {
  grpc::ByteBuffer out;
  (void)Serialize(in, &out);
  return out;
}

}  // namespace nodegate::rpc
