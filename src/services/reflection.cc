#include "services/reflection.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "rpc/message.h"

namespace nodegate::services {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using grpc::reflection::v1alpha::ErrorResponse;
using grpc::reflection::v1alpha::FileDescriptorResponse;
using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;

constexpr char kInfo[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

void SetError(absl::StatusCode code, const char* message, ServerReflectionResponse* response) {
  ErrorResponse* error = response->mutable_error_response();
  error->set_error_code(static_cast<int>(code));
  error->set_error_message(message);
}

// `file`, then what it imports, depth first, each file once: a client needs every dependency to
// build the descriptor, and gRPC's own server sends them the same way, in every response.
void AddFileAndDependencies(const FileDescriptor* file, absl::flat_hash_set<std::string>* seen,
                            FileDescriptorResponse* out) {
  if (!seen->insert(file->name()).second) return;
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out->add_file_descriptor_proto());
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFileAndDependencies(file->dependency(i), seen, out);
  }
}

void SetFile(const FileDescriptor* file, ServerReflectionResponse* response) {
  absl::flat_hash_set<std::string> seen;
  AddFileAndDependencies(file, &seen, response->mutable_file_descriptor_response());
}

}  // namespace

ReflectionService::ReflectionService(std::vector<std::string> services)
    : services_(std::move(services)) {}

void ReflectionService::Register(rpc::MethodTable& table) const {
  // A request/response stream: the client's half-close ends it once every answer is written.
  table.AddStream(
      kInfo,
      [this](const rpc::CallInfo&, const grpc::ByteBuffer& request,
             const std::shared_ptr<rpc::Stream>& stream) { return Info(request, stream); },
      /*finish_on_half_close=*/true);
}

absl::Status ReflectionService::Info(const grpc::ByteBuffer& request,
                                     const std::shared_ptr<rpc::Stream>& stream) const {
  ServerReflectionRequest parsed;
  if (absl::Status s = rpc::Parse(request, &parsed); !s.ok()) return s;
  stream->Write(rpc::ToBuffer(Answer(parsed)));
  return absl::OkStatus();
}

ServerReflectionResponse ReflectionService::Answer(const ServerReflectionRequest& request) const {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;

  switch (request.message_request_case()) {
    case ServerReflectionRequest::kListServices:
      for (const std::string& name : services_) {
        response.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    case ServerReflectionRequest::kFileByFilename:
      if (const FileDescriptor* file = pool->FindFileByName(request.file_by_filename())) {
        SetFile(file, &response);
      } else {
        SetError(absl::StatusCode::kNotFound, "file not found", &response);
      }
      break;
    case ServerReflectionRequest::kFileContainingSymbol:
      if (const FileDescriptor* file =
              pool->FindFileContainingSymbol(request.file_containing_symbol())) {
        SetFile(file, &response);
      } else {
        SetError(absl::StatusCode::kNotFound, "symbol not found", &response);
      }
      break;
    case ServerReflectionRequest::kFileContainingExtension: {
      const auto& ext = request.file_containing_extension();
      const Descriptor* type = pool->FindMessageTypeByName(ext.containing_type());
      if (type == nullptr) {
        SetError(absl::StatusCode::kNotFound, "type not found", &response);
        break;
      }
      const FieldDescriptor* field = pool->FindExtensionByNumber(type, ext.extension_number());
      if (field == nullptr) {
        SetError(absl::StatusCode::kNotFound, "extension not found", &response);
        break;
      }
      SetFile(field->file(), &response);
      break;
    }
    case ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const Descriptor* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        SetError(absl::StatusCode::kNotFound, "type not found", &response);
        break;
      }
      std::vector<const FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const FieldDescriptor* field : extensions) {
        numbers->add_extension_number(field->number());
      }
      break;
    }
    case ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      // Also what a request of a newer kind than this proto knows parses to.
      SetError(absl::StatusCode::kUnimplemented, "unsupported request", &response);
      break;
  }
  return response;
}

}  // namespace nodegate::services
