#include "client/json_messages.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "gtest/gtest.h"
#include "nodegate/v1/kv.pb.h"

namespace nodegate::client {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A pool of its own holding kv.proto (and what it imports), as a reflection client builds one:
// the messages made from it are dynamic, never the generated classes.
class DynamicKvPool {
 public:
  DynamicKvPool() { Add(nodegate::v1::SetRequest::descriptor()->file()); }
  const google::protobuf::Descriptor& Type(const std::string& name) const {
    const google::protobuf::Descriptor* d = pool_.FindMessageTypeByName(name);
    EXPECT_NE(d, nullptr) << name;
    return *d;
  }

 private:
  void Add(const FileDescriptor* file) {
    if (pool_.FindFileByName(file->name()) != nullptr) return;
    for (int i = 0; i < file->dependency_count(); ++i) Add(file->dependency(i));
    FileDescriptorProto proto;
    file->CopyTo(&proto);
    ASSERT_NE(pool_.BuildFile(proto), nullptr) << file->name();
  }
  DescriptorPool pool_;
};

TEST(SplitJsonValuesTest, SplitsConcatenatedObjectsWithBracesInsideStrings) {
  auto values = SplitJsonValues(R"({"key":"a}"}{"key":"b\"{"}
  {} )");
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_THAT(*values, ElementsAre(R"({"key":"a}"})", R"({"key":"b\"{"})", "{}"));
}

TEST(SplitJsonValuesTest, SplitsScalarsStringsAndArraysAtTheTopLevel) {
  auto values = SplitJsonValues(R"(1 "two" [3, {"x": [4]}] true{"y":null})");
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_THAT(*values, ElementsAre("1", R"("two")", R"([3, {"x": [4]}])", "true", R"({"y":null})"));
}

TEST(SplitJsonValuesTest, BlankInputIsNoValues) {
  auto values = SplitJsonValues(" \n\t ");
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_THAT(*values, IsEmpty());
}

TEST(SplitJsonValuesTest, RejectsAnObjectLeftOpenNamingWhereItStarts) {
  auto values = SplitJsonValues(R"({"a":1} {"b":{"c":2})");
  ASSERT_FALSE(values.ok());
  EXPECT_EQ(values.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(values.status().message(), HasSubstr("starts at byte 8 is not closed"));
}

TEST(SplitJsonValuesTest, RejectsAStringLeftOpen) {
  auto values = SplitJsonValues(R"({"a":"b})");
  ASSERT_FALSE(values.ok());
  EXPECT_THAT(values.status().message(), HasSubstr("string"));
}

TEST(SplitJsonValuesTest, RejectsAStrayClosingBracket) {
  auto values = SplitJsonValues("{}}");
  ASSERT_FALSE(values.ok());
  EXPECT_THAT(values.status().message(), HasSubstr("unexpected '}' at byte 2"));
}

TEST(ParseJsonMessagesTest, MakesOneDynamicMessageOfTheTypePerValue) {
  DynamicKvPool pool;
  google::protobuf::DynamicMessageFactory factory;
  const auto& type = pool.Type("nodegate.v1.SetRequest");

  auto messages = ParseJsonMessages(
      type, R"({"key":"a","value":"aGk=","contentType":"text/plain"} {"key":"b"})", factory);

  ASSERT_TRUE(messages.ok()) << messages.status();
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[0]->GetDescriptor(), &type);
  // The bytes on the wire are what the generated class reads: the two agree.
  nodegate::v1::SetRequest first;
  ASSERT_TRUE(first.ParseFromString((*messages)[0]->SerializeAsString()));
  EXPECT_EQ(first.key(), "a");
  EXPECT_EQ(first.value(), "hi");
  EXPECT_EQ(first.content_type(), "text/plain");
  nodegate::v1::SetRequest second;
  ASSERT_TRUE(second.ParseFromString((*messages)[1]->SerializeAsString()));
  EXPECT_EQ(second.key(), "b");
}

TEST(ParseJsonMessagesTest, AcceptsTheProtoFieldNameToo) {
  DynamicKvPool pool;
  google::protobuf::DynamicMessageFactory factory;
  auto messages =
      ParseJsonMessages(pool.Type("nodegate.v1.SetRequest"), R"({"content_type":"x"})", factory);
  ASSERT_TRUE(messages.ok()) << messages.status();
  nodegate::v1::SetRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString((*messages)[0]->SerializeAsString()));
  EXPECT_EQ(parsed.content_type(), "x");
}

TEST(ParseJsonMessagesTest, NamesTheValueAndTypeThatDoesNotFit) {
  DynamicKvPool pool;
  google::protobuf::DynamicMessageFactory factory;
  auto messages =
      ParseJsonMessages(pool.Type("nodegate.v1.SetRequest"), R"({"key":"a"} {"nope":1})", factory);
  ASSERT_FALSE(messages.ok());
  EXPECT_EQ(messages.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(messages.status().message(), HasSubstr("request 2 (nodegate.v1.SetRequest)"));
  EXPECT_THAT(messages.status().message(), HasSubstr("nope"));
}

TEST(ParseJsonMessagesTest, RejectsAValueOfTheWrongJsonType) {
  DynamicKvPool pool;
  google::protobuf::DynamicMessageFactory factory;
  auto messages =
      ParseJsonMessages(pool.Type("nodegate.v1.KeysRequest"), R"({"pageSize":"many"})", factory);
  ASSERT_FALSE(messages.ok());
  EXPECT_THAT(messages.status().message(), HasSubstr("request 1 (nodegate.v1.KeysRequest)"));
}

TEST(ToJsonTest, PrintsTheProto3MappingOnOneLine) {
  DynamicKvPool pool;
  google::protobuf::DynamicMessageFactory factory;
  nodegate::v1::GetResponse generated;
  generated.set_value("hi");
  generated.set_content_type("text/plain");
  generated.set_updated_unix_ms(1767225600000);
  std::unique_ptr<google::protobuf::Message> dynamic(
      factory.GetPrototype(&pool.Type("nodegate.v1.GetResponse"))->New());
  ASSERT_TRUE(dynamic->ParseFromString(generated.SerializeAsString()));

  auto json = ToJson(*dynamic);

  ASSERT_TRUE(json.ok()) << json.status();
  // lowerCamelCase names, bytes in base64, int64 as a string.
  EXPECT_EQ(*json,
            R"({"value":"aGk=","contentType":"text/plain","updatedUnixMs":"1767225600000"})");
}

TEST(ToJsonTest, EmitDefaultsPrintsFieldsThatHoldTheirDefault) {
  DynamicKvPool pool;
  google::protobuf::DynamicMessageFactory factory;
  std::unique_ptr<google::protobuf::Message> empty(
      factory.GetPrototype(&pool.Type("nodegate.v1.ExistsResponse"))->New());

  auto plain = ToJson(*empty);
  auto with_defaults = ToJson(*empty, JsonOutput{.emit_defaults = true});

  ASSERT_TRUE(plain.ok() && with_defaults.ok());
  EXPECT_EQ(*plain, "{}");
  EXPECT_EQ(*with_defaults, R"({"exists":false})");
}

TEST(ToJsonTest, MultilineIndentsWithoutATrailingNewline) {
  DynamicKvPool pool;
  google::protobuf::DynamicMessageFactory factory;
  std::unique_ptr<google::protobuf::Message> keys(
      factory.GetPrototype(&pool.Type("nodegate.v1.KeysResponse"))->New());
  ASSERT_TRUE(
      ParseJsonMessages(pool.Type("nodegate.v1.KeysResponse"), R"({"keys":["a"]})", factory).ok());
  nodegate::v1::KeysResponse generated;
  generated.add_keys("a");
  ASSERT_TRUE(keys->ParseFromString(generated.SerializeAsString()));

  auto json = ToJson(*keys, JsonOutput{.multiline = true});

  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, "{\n \"keys\": [\n  \"a\"\n ]\n}");
}

}  // namespace
}  // namespace nodegate::client
