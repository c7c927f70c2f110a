#include "client/dynamic_call.h"

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/descriptor_source.h"

namespace nodegate::client {
namespace {

std::multimap<std::string, std::string> Copy(
    const std::multimap<grpc::string_ref, grpc::string_ref>& in) {
  std::multimap<std::string, std::string> out;
  for (const auto& [key, value] : in) {
    out.emplace(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
  }
  return out;
}

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// One operation at a time is outstanding on the queue, so the next event is that operation's.
bool Await(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  return cq.Next(&tag, &ok) && ok;
}

}  // namespace

absl::StatusOr<CallResult> InvokeMethod(
    const std::shared_ptr<grpc::ChannelInterface>& channel,
    const google::protobuf::MethodDescriptor& method,
    const std::vector<std::unique_ptr<google::protobuf::Message>>& requests,
    google::protobuf::MessageFactory& factory, const CallOptions& options,
    const ResponseHandler& on_response) {
  const std::string path = MethodPath(method);
  if (!method.client_streaming() && requests.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " takes exactly one request message, got ", requests.size(),
        requests.empty() ? "" : " (several JSON values are for client-streaming methods)"));
  }
  for (const auto& request : requests) {
    if (request->GetDescriptor() != method.input_type()) {
      return absl::InvalidArgumentError(absl::StrCat(path, " takes ",
                                                     method.input_type()->full_name(), ", not ",
                                                     request->GetDescriptor()->full_name()));
    }
  }
  const google::protobuf::Message* prototype = factory.GetPrototype(method.output_type());
  if (prototype == nullptr) {
    return absl::InternalError(absl::StrCat("no factory for ", method.output_type()->full_name()));
  }

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  for (const auto& [key, value] : options.metadata) context.AddMetadata(key, value);
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, path, &cq);
  void* const tag = call.get();

  CallResult result;
  absl::Status handler_status;
  call->StartCall(tag);
  bool open = Await(cq);
  for (size_t i = 0; open && i < requests.size(); ++i) {
    grpc::Slice slice(requests[i]->SerializeAsString());
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, tag);
    open = Await(cq);
  }
  if (open) {
    call->WritesDone(tag);
    open = Await(cq);
  }
  while (open) {
    grpc::ByteBuffer buffer;
    call->Read(&buffer, tag);
    if (!Await(cq)) break;  // the node's end of the stream (or a failure Finish reports)
    std::unique_ptr<google::protobuf::Message> response(prototype->New());
    if (!response->ParseFromString(Bytes(buffer))) {
      handler_status = absl::DataLossError(absl::StrCat(
          path, ": response ", result.responses + 1, " is not a valid ",
          method.output_type()->full_name(), " (do the node's and this client's types differ?)"));
    } else {
      ++result.responses;
      handler_status = on_response(*response);
    }
    if (!handler_status.ok()) {
      context.TryCancel();
      break;
    }
  }
  call->Finish(&result.status, tag);
  (void)Await(cq);  // Finish always completes, with ok
  cq.Shutdown();
  void* ignored = nullptr;
  bool ignored_ok = false;
  while (cq.Next(&ignored, &ignored_ok)) {
  }
  if (!handler_status.ok()) return handler_status;
  // Finish asked for the initial metadata if nothing had yet, so both maps are there now.
  result.headers = Copy(context.GetServerInitialMetadata());
  result.trailers = Copy(context.GetServerTrailingMetadata());
  return result;
}

}  // namespace nodegate::client
