#include "client/proto_file_source.h"

#include <filesystem>
#include <string>

#include "client/describe.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/files.h"
#include "testlib/temp_dir.h"

namespace nodegate::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kShapes[] = R"(syntax = "proto3";
package shapes.v1;
import "shapes/v1/common.proto";
import "google/protobuf/empty.proto";

// Draws things.
service Painter {
  rpc Paint(PaintRequest) returns (Canvas);
  rpc Upload(stream PaintRequest) returns (Canvas);
  rpc Watch(google.protobuf.Empty) returns (stream Canvas);
}
message PaintRequest { Color color = 1; repeated int64 points = 2; }
)";

constexpr char kCommon[] = R"(syntax = "proto3";
package shapes.v1;
enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }
message Canvas { string name = 1; Color color = 2; }
service Other { rpc Nothing(Canvas) returns (Canvas); }
)";

class ProtoFileSourceTest : public ::testing::Test {
 protected:
  ProtoFileSourceTest() {
    std::filesystem::create_directories(dir_.File("shapes/v1"));
    testlib::WriteFile(dir_.File("shapes/v1/shapes.proto"), kShapes);
    testlib::WriteFile(dir_.File("shapes/v1/common.proto"), kCommon);
  }
  std::unique_ptr<ProtoFileSource> Load() {
    auto source = ProtoFileSource::New({"shapes/v1/shapes.proto"}, {dir_.path()});
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? *std::move(source) : nullptr;
  }
  testlib::ScopedTempDir dir_;
};

TEST_F(ProtoFileSourceTest, ListsTheServicesOfTheGivenFilesOnly) {
  auto source = Load();
  ASSERT_NE(source, nullptr);
  auto services = source->ListServices();
  ASSERT_TRUE(services.ok());
  // shapes.v1.Other is in an import: not listed, as grpcurl lists only the named files.
  EXPECT_THAT(*services, ElementsAre("shapes.v1.Painter"));
}

TEST_F(ProtoFileSourceTest, FindsAMethodByEveryAcceptedSpelling) {
  auto source = Load();
  ASSERT_NE(source, nullptr);
  for (const char* name :
       {"/shapes.v1.Painter/Paint", "shapes.v1.Painter/Paint", "shapes.v1.Painter.Paint"}) {
    auto method = FindMethod(*source, name);
    ASSERT_TRUE(method.ok()) << name << ": " << method.status();
    EXPECT_EQ(MethodPath(**method), "/shapes.v1.Painter/Paint");
    EXPECT_EQ((*method)->output_type()->full_name(), "shapes.v1.Canvas");  // from the import
  }
}

TEST_F(ProtoFileSourceTest, KnowsWhichMethodsStream) {
  auto source = Load();
  ASSERT_NE(source, nullptr);
  auto upload = FindMethod(*source, "/shapes.v1.Painter/Upload");
  auto watch = FindMethod(*source, "/shapes.v1.Painter/Watch");
  ASSERT_TRUE(upload.ok() && watch.ok());
  EXPECT_TRUE((*upload)->client_streaming());
  EXPECT_FALSE((*upload)->server_streaming());
  EXPECT_TRUE((*watch)->server_streaming());
  // google/protobuf/empty.proto is not on disk: this binary's own copy stands in.
  EXPECT_EQ((*watch)->input_type()->full_name(), "google.protobuf.Empty");
}

TEST_F(ProtoFileSourceTest, TakesAPathOnDiskInsideAnImportPath) {
  auto source = ProtoFileSource::New({dir_.File("shapes/v1/shapes.proto")}, {dir_.path()});
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_TRUE(FindMethod(**source, "/shapes.v1.Painter/Paint").ok());
}

TEST_F(ProtoFileSourceTest, AnUnknownMethodNamesWhatTheServiceHas) {
  auto source = Load();
  ASSERT_NE(source, nullptr);
  auto method = FindMethod(*source, "/shapes.v1.Painter/Pain");
  ASSERT_FALSE(method.ok());
  EXPECT_EQ(method.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(method.status().message(),
              HasSubstr("has no method Pain (it has: Paint, Upload, Watch)"));
}

TEST_F(ProtoFileSourceTest, AnUnknownServiceNamesTheFiles) {
  auto source = Load();
  ASSERT_NE(source, nullptr);
  auto method = FindMethod(*source, "/shapes.v1.Sculptor/Paint");
  ASSERT_FALSE(method.ok());
  EXPECT_EQ(method.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(method.status().message(), HasSubstr("--proto shapes/v1/shapes.proto"));
}

TEST_F(ProtoFileSourceTest, ANameWithoutServiceAndMethodIsInvalid) {
  auto source = Load();
  ASSERT_NE(source, nullptr);
  for (const char* name : {"Paint", "/Paint", "shapes.v1.Painter/"}) {
    auto method = FindMethod(*source, name);
    ASSERT_FALSE(method.ok()) << name;
    EXPECT_EQ(method.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST_F(ProtoFileSourceTest, ASyntaxErrorNamesFileLineAndColumn) {
  testlib::WriteFile(dir_.File("broken.proto"),
                     "syntax = \"proto3\";\nmessage M { int32 x = ; }\n");
  auto source = ProtoFileSource::New({"broken.proto"}, {dir_.path()});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(source.status().message(), HasSubstr("broken.proto:2:"));
}

TEST_F(ProtoFileSourceTest, AMissingImportIsNamed) {
  testlib::WriteFile(dir_.File("lonely.proto"),
                     "syntax = \"proto3\";\nimport \"not/there.proto\";\nmessage M {}\n");
  auto source = ProtoFileSource::New({"lonely.proto"}, {dir_.path()});
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("not/there.proto"));
}

TEST_F(ProtoFileSourceTest, AFileOutsideTheImportPathsNamesThem) {
  auto source = ProtoFileSource::New({"nowhere.proto"}, {dir_.path()});
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(),
              HasSubstr("--proto nowhere.proto: not found under the import paths (" + dir_.path()));
}

TEST_F(ProtoFileSourceTest, AGeneratedFileOfThisBinaryIsNoSubstituteForOneAskedFor) {
  // api/dice.proto is compiled into the test binary, but not under the import path.
  auto source = ProtoFileSource::New({"api/dice.proto"}, {dir_.path()});
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("not found under the import paths"));
}

TEST_F(ProtoFileSourceTest, AnImportPathThatIsNotADirectoryIsRefused) {
  auto source = ProtoFileSource::New({"shapes/v1/shapes.proto"}, {dir_.File("missing")});
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("not a directory"));
}

TEST_F(ProtoFileSourceTest, DescribesEveryKindOfSymbol) {
  auto source = Load();
  ASSERT_NE(source, nullptr);
  auto service = Describe(*source, "shapes.v1.Painter");
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_THAT(*service, StartsWith("shapes.v1.Painter is a service:\nservice Painter {\n"));
  EXPECT_THAT(*service,
              HasSubstr("rpc Upload(stream .shapes.v1.PaintRequest) returns (.shapes.v1.Canvas);"));
  EXPECT_THAT(*service, HasSubstr("returns (stream .shapes.v1.Canvas);"));

  auto message = Describe(*source, ".shapes.v1.PaintRequest");
  ASSERT_TRUE(message.ok());
  EXPECT_THAT(*message, StartsWith("shapes.v1.PaintRequest is a message:\nmessage PaintRequest {"));
  EXPECT_THAT(*message, HasSubstr("repeated int64 points = 2;"));

  auto method = Describe(*source, "shapes.v1.Painter.Paint");
  ASSERT_TRUE(method.ok());
  EXPECT_THAT(*method, StartsWith("shapes.v1.Painter.Paint is a method:\nrpc Paint("));

  auto enum_type = Describe(*source, "shapes.v1.Color");
  ASSERT_TRUE(enum_type.ok());
  EXPECT_THAT(*enum_type, StartsWith("shapes.v1.Color is an enum:\nenum Color {"));

  auto field = Describe(*source, "shapes.v1.Canvas.name");
  ASSERT_TRUE(field.ok());
  EXPECT_THAT(*field, StartsWith("shapes.v1.Canvas.name is a field:\n"));

  auto value = Describe(*source, "shapes.v1.RED");
  ASSERT_TRUE(value.ok());
  EXPECT_THAT(*value, StartsWith("shapes.v1.RED is an enum value:\n"));
}

TEST_F(ProtoFileSourceTest, DescribingAnUnknownSymbolIsNotFound) {
  auto source = Load();
  ASSERT_NE(source, nullptr);
  auto text = Describe(*source, "shapes.v1.Nothing");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(text.status().message(), HasSubstr("symbol shapes.v1.Nothing is not known to"));
}

TEST_F(ProtoFileSourceTest, ListsTheMethodsOfAService) {
  auto source = Load();
  ASSERT_NE(source, nullptr);
  auto methods = ListMethods(*source, "shapes.v1.Painter");
  ASSERT_TRUE(methods.ok());
  EXPECT_THAT(*methods, ElementsAre("shapes.v1.Painter.Paint", "shapes.v1.Painter.Upload",
                                    "shapes.v1.Painter.Watch"));
}

}  // namespace
}  // namespace nodegate::client
