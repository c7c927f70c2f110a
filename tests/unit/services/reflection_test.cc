#include "services/reflection.h"

#include <memory>
#include <string>
#include <vector>

#include "api/dice.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "nodegate/v1/kv.pb.h"
#include "nodegate/v1/options.pb.h"
#include "testlib/rpc_calls.h"

namespace nodegate::services {
namespace {

using google::protobuf::FileDescriptorProto;
using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;
using ::nodegate::testlib::RecordingStream;
using ::nodegate::testlib::Send;
using ::nodegate::testlib::SendBuffer;
using ::nodegate::testlib::TruncatedMessage;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::SizeIs;

constexpr char kInfo[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
constexpr int kNotFound = 5;
constexpr int kUnimplemented = 12;

// The files a file_descriptor_response carries, parsed, in the order sent.
std::vector<FileDescriptorProto> Files(const ServerReflectionResponse& response) {
  std::vector<FileDescriptorProto> files;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    FileDescriptorProto file;
    EXPECT_TRUE(file.ParseFromString(bytes));
    files.push_back(std::move(file));
  }
  return files;
}

std::vector<std::string> FileNames(const ServerReflectionResponse& response) {
  std::vector<std::string> names;
  for (const FileDescriptorProto& f : Files(response)) names.push_back(f.name());
  return names;
}

class ReflectionServiceTest : public ::testing::Test {
 protected:
  ReflectionServiceTest()
      : reflection_({"api.DiceService", "nodegate.v1.KeyValue",
                     "grpc.reflection.v1alpha.ServerReflection"}) {
    reflection_.Register(table_);
    // A static library's generated file is linked, and so in the generated pool, only when
    // something refers to it; the node's handlers do, this test has none of its own.
    EXPECT_NE(api::RollDieRequest::descriptor(), nullptr);
    EXPECT_NE(nodegate::v1::GetRequest::descriptor(), nullptr);
  }

  // Sends one request on a new stream; expects exactly one response and the call still open.
  ServerReflectionResponse Ask(const ServerReflectionRequest& request) {
    auto stream = std::make_shared<RecordingStream>();
    absl::Status s = Send(table_, kInfo, request, stream);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_FALSE(stream->finish_status().has_value()) << "the core finishes on half-close";
    std::vector<ServerReflectionResponse> responses = stream->Messages<ServerReflectionResponse>();
    EXPECT_THAT(responses, SizeIs(1));
    return responses.empty() ? ServerReflectionResponse() : responses.front();
  }

  ReflectionService reflection_;
  rpc::MethodTable table_;
};

ServerReflectionRequest ListServices() {
  ServerReflectionRequest r;
  r.set_host("node-a:50051");
  r.set_list_services("*");
  return r;
}

ServerReflectionRequest Symbol(const std::string& symbol) {
  ServerReflectionRequest r;
  r.set_file_containing_symbol(symbol);
  return r;
}

ServerReflectionRequest Filename(const std::string& name) {
  ServerReflectionRequest r;
  r.set_file_by_filename(name);
  return r;
}

ServerReflectionRequest Extension(const std::string& type, int number) {
  ServerReflectionRequest r;
  r.mutable_file_containing_extension()->set_containing_type(type);
  r.mutable_file_containing_extension()->set_extension_number(number);
  return r;
}

ServerReflectionRequest ExtensionNumbers(const std::string& type) {
  ServerReflectionRequest r;
  r.set_all_extension_numbers_of_type(type);
  return r;
}

TEST_F(ReflectionServiceTest, RegistersARequestResponseStream) {
  const rpc::MethodTable::Method* m = table_.Find(kInfo);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->stream);
  EXPECT_TRUE(m->finish_on_half_close);
}

TEST_F(ReflectionServiceTest, ListsTheServicesItWasGiven) {
  ServerReflectionResponse r = Ask(ListServices());
  ASSERT_TRUE(r.has_list_services_response());
  std::vector<std::string> names;
  for (const auto& s : r.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ElementsAre("api.DiceService", "nodegate.v1.KeyValue",
                                 "grpc.reflection.v1alpha.ServerReflection"));
}

TEST_F(ReflectionServiceTest, EchoesTheHostAndTheRequest) {
  ServerReflectionResponse r = Ask(ListServices());
  EXPECT_EQ(r.valid_host(), "node-a:50051");
  EXPECT_EQ(r.original_request().SerializeAsString(), ListServices().SerializeAsString());
}

TEST_F(ReflectionServiceTest, FileContainingAServiceIsItsProtoFile) {
  ServerReflectionResponse r = Ask(Symbol("api.DiceService"));
  std::vector<FileDescriptorProto> files = Files(r);
  ASSERT_THAT(files, SizeIs(1));  // api/dice.proto imports nothing
  EXPECT_EQ(files[0].name(), "api/dice.proto");
  EXPECT_EQ(files[0].package(), "api");
  ASSERT_EQ(files[0].service_size(), 1);
  EXPECT_EQ(files[0].service(0).name(), "DiceService");
  ASSERT_EQ(files[0].service(0).method_size(), 1);
  EXPECT_EQ(files[0].service(0).method(0).name(), "RollDie");
}

TEST_F(ReflectionServiceTest, FileContainingAMethodOrAMessageIsItsProtoFile) {
  EXPECT_THAT(FileNames(Ask(Symbol("api.DiceService.RollDie"))), ElementsAre("api/dice.proto"));
  EXPECT_THAT(FileNames(Ask(Symbol("api.RollDieResponse"))), ElementsAre("api/dice.proto"));
}

TEST_F(ReflectionServiceTest, UnknownSymbolIsANotFoundErrorResponseNotAFailedCall) {
  ServerReflectionResponse r = Ask(Symbol("api.NoSuchService"));
  ASSERT_TRUE(r.has_error_response());
  EXPECT_EQ(r.error_response().error_code(), kNotFound);
  EXPECT_EQ(r.error_response().error_message(), "symbol not found");
}

TEST_F(ReflectionServiceTest, FileByFilenameComesWithItsTransitiveDependencies) {
  // kv.proto imports options.proto, which imports descriptor.proto.
  EXPECT_THAT(FileNames(Ask(Filename("nodegate/v1/kv.proto"))),
              ElementsAre("nodegate/v1/kv.proto", "nodegate/v1/options.proto",
                          "google/protobuf/descriptor.proto"));
}

TEST_F(ReflectionServiceTest, FileByFilenameKeepsTheMethodOptions) {
  // The (nodegate.v1.auth) rules travel with the file: a client can see which calls are public.
  std::vector<FileDescriptorProto> files = Files(Ask(Filename("nodegate/v1/kv.proto")));
  ASSERT_FALSE(files.empty());
  ASSERT_GT(files[0].service_size(), 0);
  ASSERT_GT(files[0].service(0).method_size(), 0);
  EXPECT_TRUE(files[0].service(0).method(0).has_options());
}

TEST_F(ReflectionServiceTest, UnknownFileIsNotFound) {
  ServerReflectionResponse r = Ask(Filename("nodegate/v1/nope.proto"));
  ASSERT_TRUE(r.has_error_response());
  EXPECT_EQ(r.error_response().error_code(), kNotFound);
}

TEST_F(ReflectionServiceTest, FileContainingOurMethodOptionIsOptionsProto) {
  ServerReflectionResponse r =
      Ask(Extension("google.protobuf.MethodOptions", nodegate::v1::kAuthFieldNumber));
  EXPECT_THAT(FileNames(r),
              ElementsAre("nodegate/v1/options.proto", "google/protobuf/descriptor.proto"));
}

TEST_F(ReflectionServiceTest, UnknownExtensionOrTypeIsNotFound) {
  ServerReflectionResponse number = Ask(Extension("google.protobuf.MethodOptions", 59999));
  ASSERT_TRUE(number.has_error_response());
  EXPECT_EQ(number.error_response().error_code(), kNotFound);

  ServerReflectionResponse type = Ask(Extension("no.such.Type", nodegate::v1::kAuthFieldNumber));
  ASSERT_TRUE(type.has_error_response());
  EXPECT_EQ(type.error_response().error_code(), kNotFound);
}

TEST_F(ReflectionServiceTest, ExtensionNumbersOfMethodOptionsIncludeOurAuthOption) {
  ServerReflectionResponse r = Ask(ExtensionNumbers("google.protobuf.MethodOptions"));
  ASSERT_TRUE(r.has_all_extension_numbers_response());
  EXPECT_EQ(r.all_extension_numbers_response().base_type_name(), "google.protobuf.MethodOptions");
  EXPECT_THAT(r.all_extension_numbers_response().extension_number(), Contains(52001));
  EXPECT_EQ(nodegate::v1::kAuthFieldNumber, 52001);
}

TEST_F(ReflectionServiceTest, ExtensionNumbersOfAnUnextendedTypeAreEmpty) {
  ServerReflectionResponse r = Ask(ExtensionNumbers("api.RollDieRequest"));
  ASSERT_TRUE(r.has_all_extension_numbers_response());
  EXPECT_THAT(r.all_extension_numbers_response().extension_number(), SizeIs(0));
}

TEST_F(ReflectionServiceTest, ExtensionNumbersOfAnUnknownTypeIsNotFound) {
  ServerReflectionResponse r = Ask(ExtensionNumbers("no.such.Type"));
  ASSERT_TRUE(r.has_error_response());
  EXPECT_EQ(r.error_response().error_code(), kNotFound);
}

TEST_F(ReflectionServiceTest, RequestOfNoKnownKindIsUnimplemented) {
  ServerReflectionRequest empty;
  empty.set_host("node-a");
  ServerReflectionResponse r = Ask(empty);
  ASSERT_TRUE(r.has_error_response());
  EXPECT_EQ(r.error_response().error_code(), kUnimplemented);
  EXPECT_EQ(r.valid_host(), "node-a");
}

TEST_F(ReflectionServiceTest, AnswersEachRequestOfAStreamInOrder) {
  auto stream = std::make_shared<RecordingStream>();
  ASSERT_TRUE(Send(table_, kInfo, ListServices(), stream).ok());
  ASSERT_TRUE(Send(table_, kInfo, Symbol("api.NoSuchService"), stream).ok());
  ASSERT_TRUE(Send(table_, kInfo, Symbol("api.DiceService"), stream).ok());

  std::vector<ServerReflectionResponse> responses = stream->Messages<ServerReflectionResponse>();
  ASSERT_THAT(responses, SizeIs(3));
  EXPECT_TRUE(responses[0].has_list_services_response());
  EXPECT_TRUE(responses[1].has_error_response());
  EXPECT_THAT(FileNames(responses[2]), ElementsAre("api/dice.proto"));
}

TEST_F(ReflectionServiceTest, ARequestThatDoesNotParseFailsTheCall) {
  auto stream = std::make_shared<RecordingStream>();
  EXPECT_EQ(SendBuffer(table_, kInfo, TruncatedMessage(), stream).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(stream->Messages<ServerReflectionResponse>(), SizeIs(0));
}

}  // namespace
}  // namespace nodegate::services
