#include "client/reflection_source.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/rpc_error.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace nodegate::client {

namespace reflection = ::grpc::reflection::v1alpha;
using google::protobuf::FileDescriptorProto;

// A DescriptorDatabase that asks the node. Every file an answer carries (the one asked for and
// all it imports) goes into a local database, so a DescriptorPool built on this asks once per
// file. Not thread-safe; a DescriptorPool serialises its calls into the fallback database anyway.
class ReflectionSource::Database : public google::protobuf::DescriptorDatabase {
 public:
  Database(const std::shared_ptr<grpc::ChannelInterface>& channel, ReflectionOptions options)
      : stub_(reflection::ServerReflection::NewStub(channel)), options_(std::move(options)) {}
  ~Database() override { Close(); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  bool FindFileByName(const std::string& filename, FileDescriptorProto* output) override {
    if (known_.FindFileByName(filename, output)) return true;
    reflection::ServerReflectionRequest request;
    request.set_file_by_filename(filename);
    return Fetch(request) && known_.FindFileByName(filename, output);
  }

  bool FindFileContainingSymbol(const std::string& symbol, FileDescriptorProto* output) override {
    if (known_.FindFileContainingSymbol(symbol, output)) return true;
    reflection::ServerReflectionRequest request;
    request.set_file_containing_symbol(symbol);
    return Fetch(request) && known_.FindFileContainingSymbol(symbol, output);
  }

  bool FindFileContainingExtension(const std::string& containing_type, int field_number,
                                   FileDescriptorProto* output) override {
    if (known_.FindFileContainingExtension(containing_type, field_number, output)) return true;
    reflection::ServerReflectionRequest request;
    request.mutable_file_containing_extension()->set_containing_type(containing_type);
    request.mutable_file_containing_extension()->set_extension_number(field_number);
    return Fetch(request) &&
           known_.FindFileContainingExtension(containing_type, field_number, output);
  }

  bool FindAllExtensionNumbers(const std::string& extendee_type,
                               std::vector<int>* output) override {
    reflection::ServerReflectionRequest request;
    request.set_all_extension_numbers_of_type(extendee_type);
    absl::StatusOr<reflection::ServerReflectionResponse> response = Ask(request);
    if (!response.ok() || !response->has_all_extension_numbers_response()) return false;
    const auto& numbers = response->all_extension_numbers_response().extension_number();
    output->assign(numbers.begin(), numbers.end());
    return true;
  }

  absl::StatusOr<std::vector<std::string>> ListServices() {
    reflection::ServerReflectionRequest request;
    request.set_list_services("*");
    absl::StatusOr<reflection::ServerReflectionResponse> response = Ask(request);
    if (!response.ok()) return response.status();
    if (!response->has_list_services_response()) {
      return absl::InternalError("reflection: the node answered list_services with another kind");
    }
    std::vector<std::string> names;
    for (const auto& service : response->list_services_response().service()) {
      names.push_back(service.name());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  absl::Status status() const { return status_; }

 private:
  // Asks and keeps every file of the answer. False when the node does not know the name, or
  // the stream failed (status_ then says why).
  bool Fetch(const reflection::ServerReflectionRequest& request) {
    absl::StatusOr<reflection::ServerReflectionResponse> response = Ask(request);
    if (!response.ok() || !response->has_file_descriptor_response()) return false;
    for (const std::string& bytes : response->file_descriptor_response().file_descriptor_proto()) {
      FileDescriptorProto file;
      FileDescriptorProto already;
      if (!file.ParseFromString(bytes)) {
        status_ =
            absl::DataLossError("reflection: the node sent a file descriptor that does not parse");
        return false;
      }
      if (known_.FindFileByName(file.name(), &already)) continue;
      known_.AddAndOwn(new FileDescriptorProto(std::move(file)));
    }
    return true;
  }

  // One request and its answer on the stream, opened on first use. An error_response (the name
  // is not known) is NOT_FOUND, and leaves the stream usable; a broken stream fails this and
  // every later request with the call's status.
  absl::StatusOr<reflection::ServerReflectionResponse> Ask(
      const reflection::ServerReflectionRequest& request) {
    if (!status_.ok()) return status_;
    if (stream_ == nullptr) {
      context_ = std::make_unique<grpc::ClientContext>();
      context_->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
      for (const auto& [key, value] : options_.metadata) context_->AddMetadata(key, value);
      stream_ = stub_->ServerReflectionInfo(context_.get());
    }
    reflection::ServerReflectionResponse response;
    if (!stream_->Write(request) || !stream_->Read(&response)) {
      grpc::Status s = stream_->Finish();
      stream_.reset();
      if (s.ok()) s = grpc::Status(grpc::StatusCode::UNKNOWN, "the stream ended without an answer");
      status_ = FromRpcStatus(s, "reflection");
      return status_;
    }
    if (response.has_error_response()) {
      return absl::NotFoundError(
          absl::StrCat("reflection: ", response.error_response().error_message()));
    }
    return response;
  }

  void Close() {
    if (stream_ == nullptr) return;
    stream_->WritesDone();
    (void)stream_->Finish();  // the node ends the stream on our half-close
    stream_.reset();
  }

  std::unique_ptr<reflection::ServerReflection::Stub> stub_;
  const ReflectionOptions options_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<reflection::ServerReflectionRequest,
                                           reflection::ServerReflectionResponse>>
      stream_;
  google::protobuf::SimpleDescriptorDatabase known_;
  absl::Status status_;
};

std::unique_ptr<ReflectionSource> ReflectionSource::New(
    const std::shared_ptr<grpc::ChannelInterface>& channel, ReflectionOptions options) {
  return std::unique_ptr<ReflectionSource>(
      new ReflectionSource(std::make_unique<Database>(channel, std::move(options))));
}

ReflectionSource::ReflectionSource(std::unique_ptr<Database> database)
    : database_(std::move(database)),
      pool_(std::make_unique<google::protobuf::DescriptorPool>(database_.get())) {}

// The pool goes first: it may still refer to the database while it is torn down.
ReflectionSource::~ReflectionSource() { pool_.reset(); }

absl::StatusOr<std::vector<std::string>> ReflectionSource::ListServices() {
  return database_->ListServices();
}

absl::Status ReflectionSource::LookupStatus() const { return database_->status(); }

}  // namespace nodegate::client
