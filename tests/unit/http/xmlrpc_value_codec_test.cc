#include "http/xmlrpc_value_codec.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace nodegate::http {
namespace {

xmlrpc_c::value RoundTrip(const xmlrpc_c::value& v) {
  absl::StatusOr<EncodedValue> e = EncodeValue(v);
  EXPECT_TRUE(e.ok()) << e.status();
  absl::StatusOr<xmlrpc_c::value> d = DecodeValue(e->bytes, e->content_type);
  EXPECT_TRUE(d.ok()) << d.status();
  return *d;
}

TEST(XmlRpcValueCodecTest, StringsAreStoredAsPlainText) {
  absl::StatusOr<EncodedValue> e = EncodeValue(xmlrpc_c::value_string("héllo <world>"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->bytes, "héllo <world>");
  EXPECT_EQ(e->content_type, kTextContentType);
  EXPECT_EQ(std::string(xmlrpc_c::value_string(RoundTrip(xmlrpc_c::value_string("héllo <world>")))),
            "héllo <world>");
}

TEST(XmlRpcValueCodecTest, ScalarsKeepTheirTypes) {
  EXPECT_EQ(int(xmlrpc_c::value_int(RoundTrip(xmlrpc_c::value_int(-42)))), -42);
  EXPECT_EQ(xmlrpc_c::value_i8(RoundTrip(xmlrpc_c::value_i8(int64_t{1} << 40))).cvalue(),
            int64_t{1} << 40);
  EXPECT_DOUBLE_EQ(double(xmlrpc_c::value_double(RoundTrip(xmlrpc_c::value_double(2.5)))), 2.5);
  EXPECT_TRUE(bool(xmlrpc_c::value_boolean(RoundTrip(xmlrpc_c::value_boolean(true)))));
  EXPECT_EQ(RoundTrip(xmlrpc_c::value_nil()).type(), xmlrpc_c::value::TYPE_NIL);
  std::vector<unsigned char> bytes = {0, 1, 0xff};
  EXPECT_EQ(
      xmlrpc_c::value_bytestring(RoundTrip(xmlrpc_c::value_bytestring(bytes))).vectorUcharValue(),
      bytes);
}

TEST(XmlRpcValueCodecTest, NonStringsAreStoredAsTheirXmlRpcValue) {
  absl::StatusOr<EncodedValue> e = EncodeValue(xmlrpc_c::value_int(7));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->content_type, kXmlRpcValueContentType);
  EXPECT_EQ(e->bytes, "<value><i4>7</i4></value>");
}

TEST(XmlRpcValueCodecTest, ArraysAndStructsNest) {
  std::map<std::string, xmlrpc_c::value> inner = {{"ok", xmlrpc_c::value_boolean(true)}};
  std::vector<xmlrpc_c::value> items = {xmlrpc_c::value_int(1), xmlrpc_c::value_string("two"),
                                        xmlrpc_c::value_struct(inner)};
  std::map<std::string, xmlrpc_c::value> outer = {{"items", xmlrpc_c::value_array(items)},
                                                  {"none", xmlrpc_c::value_nil()}};
  xmlrpc_c::value back = RoundTrip(xmlrpc_c::value_struct(outer));
  ASSERT_EQ(back.type(), xmlrpc_c::value::TYPE_STRUCT);
  std::map<std::string, xmlrpc_c::value> m = xmlrpc_c::value_struct(back).cvalue();
  ASSERT_EQ(m.size(), 2u);
  std::vector<xmlrpc_c::value> a = xmlrpc_c::value_array(m.at("items")).cvalue();
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(int(xmlrpc_c::value_int(a[0])), 1);
  EXPECT_EQ(std::string(xmlrpc_c::value_string(a[1])), "two");
  EXPECT_EQ(m.at("none").type(), xmlrpc_c::value::TYPE_NIL);
}

TEST(XmlRpcValueCodecTest, EntriesFromOtherWritersAreReadable) {
  absl::StatusOr<xmlrpc_c::value> json = DecodeValue("{\"a\":1}", "application/json");
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(std::string(xmlrpc_c::value_string(*json)), "{\"a\":1}");
  absl::StatusOr<xmlrpc_c::value> binary = DecodeValue(std::string("\0\xff", 2), "");
  ASSERT_TRUE(binary.ok());
  EXPECT_EQ(binary->type(), xmlrpc_c::value::TYPE_BYTESTRING);
}

TEST(XmlRpcValueCodecTest, CorruptTypedEntryIsAnErrorNotACrash) {
  for (const char* junk : {"", "<value>", "<value><i4>x</i4></value>", "</param><param>",
                           "<value><struct><member></struct></value>"}) {
    absl::StatusOr<xmlrpc_c::value> v = DecodeValue(junk, kXmlRpcValueContentType);
    EXPECT_FALSE(v.ok()) << junk;
  }
}

TEST(XmlRpcValueCodecTest, IsXmlText) {
  EXPECT_TRUE(IsXmlText("plain\ttext\r\n"));
  EXPECT_TRUE(IsXmlText("ünïcødé ✓ 𝄞"));
  EXPECT_FALSE(IsXmlText(std::string("nul\0", 4)));
  EXPECT_FALSE(IsXmlText("\x01"));
  EXPECT_FALSE(IsXmlText("\xff"));
  EXPECT_FALSE(IsXmlText("\xc3"));          // truncated
  EXPECT_FALSE(IsXmlText("\xc0\xaf"));      // overlong
  EXPECT_FALSE(IsXmlText("\xed\xa0\x80"));  // surrogate
}

}  // namespace
}  // namespace nodegate::http
