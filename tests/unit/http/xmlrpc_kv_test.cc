#include "http/xmlrpc_kv.h"

#include <gtest/gtest.h>
#include <xmlrpc-c/base.h>

#include <xmlrpc-c/xml.hpp>

#include "absl/strings/str_cat.h"
#include "http/xml_guard.h"
#include "store/sqlite/sqlite_stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::http {
namespace {

class XmlRpcKvTest : public ::testing::Test {
 protected:
  testlib::ScopedTempDir dir_;  // first: removed after the store closes
  void SetUp() override {
    store::KvLimits limits;
    limits.max_value_bytes = 1024;
    auto stores = store::OpenSqliteStores(dir_.File("kv.db"), limits);
    ASSERT_TRUE(stores.ok()) << stores.status();
    std::shared_ptr<store::KvStore> store = std::move(stores->kv);
    auto kv = XmlRpcKv::New(std::move(store));
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = *std::move(kv);
  }

  xmlrpc_c::rpcOutcome Call(const std::string& method, const xmlrpc_c::paramList& params) {
    std::string call;
    xmlrpc_c::xml::generateCall(method, params, &call);
    return Parse(kv_->Handle(call));
  }

  static xmlrpc_c::rpcOutcome Parse(const std::string& response) {
    xmlrpc_c::rpcOutcome outcome;
    xmlrpc_c::xml::parseResponse(response, &outcome);
    return outcome;
  }

  static xmlrpc_c::paramList Params(std::initializer_list<xmlrpc_c::value> values) {
    xmlrpc_c::paramList p;
    for (const auto& v : values) p.add(v);
    return p;
  }

  std::unique_ptr<XmlRpcKv> kv_;
};

std::string Nested(size_t depth, std::string_view open, std::string_view close) {
  std::string doc;
  for (size_t i = 0; i < depth; ++i) doc += open;
  for (size_t i = 0; i < depth; ++i) doc += close;
  return doc;
}

std::string SetCall(std::string_view value_xml) {
  return "<?xml version=\"1.0\"?><methodCall><methodName>set</methodName><params>"
         "<param><value><string>deep</string></value></param><param>" +
         std::string(value_xml) + "</param></params></methodCall>";
}

// ASCII → UTF-16LE with a byte-order mark.
std::string Utf16Le(std::string_view ascii) {
  std::string out("\xff\xfe");
  for (char c : ascii) {
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

void ExpectParseFault(const xmlrpc_c::rpcOutcome& outcome, std::string_view why) {
  ASSERT_FALSE(outcome.succeeded());
  EXPECT_EQ(outcome.getFault().getCode(), xmlrpc_c::fault::CODE_PARSE);
  EXPECT_NE(outcome.getFault().getDescription().find(why), std::string::npos)
      << outcome.getFault().getDescription();
}

// These bodies crashed the node (stack overflow in xmlrpc-c's recursive tree free) before the
// guard: that the test process survives is the assertion that matters.
TEST_F(XmlRpcKvTest, DeeplyNestedElementsAreAFaultNeverACrash) {
  ExpectParseFault(Parse(kv_->Handle(Nested(180000, "<a>", "</a>"))), "nested deeper than");
}

TEST_F(XmlRpcKvTest, DeeplyNestedArraysAreAFaultNeverACrash) {
  ExpectParseFault(
      Parse(kv_->Handle(SetCall(Nested(90000, "<value><array><data>", "</data></array></value>")))),
      "nested deeper than");
}

// xmlrpc-c 1.33 formats its fault for an unparsable <i8> with one argument short and crashed the
// node on this body (found by tests/fuzz/xmlrpc_fuzzer.cc); the guard refuses it first.
TEST_F(XmlRpcKvTest, AnI8OutOfRangeIsAFaultNeverACrash) {
  for (const char* v : {"99999999999999999999", "1x", "1 "}) {
    ExpectParseFault(Parse(kv_->Handle(SetCall(std::string("<value><i8>") + v + "</i8></value>"))),
                     "<i8> value is not a 64-bit integer");
  }
}

TEST_F(XmlRpcKvTest, AnI8InRangeIsServed) {
  EXPECT_TRUE(
      Parse(kv_->Handle(SetCall("<value><i8>-9223372036854775808</i8></value>"))).succeeded());
}

TEST_F(XmlRpcKvTest, ArraysNestedUpToXmlrpcCsOwnLimitPassTheGuard) {
  // The guard's bound must not be the one a legal call meets first.
  const size_t limit = xmlrpc_limit_get(XMLRPC_NESTING_LIMIT_ID);
  ASSERT_GT(limit, 2u);
  std::string value = Nested(limit - 1, "<value><array><data>", "</data></array></value>");
  EXPECT_TRUE(CheckUntrustedXml(SetCall(value)).ok());
  // The call reaches the method (whose store then finds the value over this test's 1 KiB limit).
  xmlrpc_c::rpcOutcome set = Parse(kv_->Handle(SetCall(value)));
  ASSERT_FALSE(set.succeeded());
  EXPECT_EQ(set.getFault().getDescription().rfind("<class 'ValueError'>", 0), 0u)
      << set.getFault().getDescription();
}

TEST_F(XmlRpcKvTest, Utf16BillionLaughsIsAFault) {
  std::string doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><!DOCTYPE m [<!ENTITY a \"aaaa\">";
  for (int i = 1; i <= 9; ++i) {
    doc += absl::StrCat("<!ENTITY a", i, " \"");
    for (int j = 0; j < 10; ++j) doc += i == 1 ? "&a;" : absl::StrCat("&a", i - 1, ";");
    doc += "\">";
  }
  doc += "]><methodCall><methodName>&a9;</methodName></methodCall>";
  ExpectParseFault(Parse(kv_->Handle(Utf16Le(doc))), "DTDs and entities are refused");
}

TEST_F(XmlRpcKvTest, AnInternalEntityIsAFault) {
  ExpectParseFault(Parse(kv_->Handle("<!DOCTYPE methodCall [<!ENTITY e \"get\">]>"
                                     "<methodCall><methodName>&e;</methodName></methodCall>")),
                   "DTDs and entities are refused");
}

TEST_F(XmlRpcKvTest, ACallInUtf16IsServed) {
  std::string set = Utf16Le(SetCall("<value><string>caf&#233;</string></value>")
                                .replace(0, sizeof("<?xml version=\"1.0\"?>") - 1,
                                         "<?xml version=\"1.0\" encoding=\"UTF-16\"?>"));
  xmlrpc_c::rpcOutcome outcome = Parse(kv_->Handle(set));
  ASSERT_TRUE(outcome.succeeded()) << outcome.getFault().getDescription();
  xmlrpc_c::rpcOutcome got = Call("get", Params({xmlrpc_c::value_string("deep")}));
  ASSERT_TRUE(got.succeeded());
  EXPECT_EQ(std::string(xmlrpc_c::value_string(got.getResult())), "caf\xc3\xa9");
}

TEST_F(XmlRpcKvTest, SetThenGetKeepsTheType) {
  xmlrpc_c::rpcOutcome set =
      Call("set", Params({xmlrpc_c::value_string("n"), xmlrpc_c::value_int(5)}));
  ASSERT_TRUE(set.succeeded());
  EXPECT_EQ(set.getResult().type(), xmlrpc_c::value::TYPE_NIL);
  xmlrpc_c::rpcOutcome got = Call("get", Params({xmlrpc_c::value_string("n")}));
  ASSERT_TRUE(got.succeeded());
  EXPECT_EQ(int(xmlrpc_c::value_int(got.getResult())), 5);
}

TEST_F(XmlRpcKvTest, MissingKeyIsTheSeedsKeyErrorFault) {
  xmlrpc_c::rpcOutcome got = Call("get", Params({xmlrpc_c::value_string("absent")}));
  ASSERT_FALSE(got.succeeded());
  EXPECT_EQ(got.getFault().getCode(), 1);
  EXPECT_EQ(got.getFault().getDescription(), "<class 'KeyError'>:'absent'");
  EXPECT_FALSE(Call("delete", Params({xmlrpc_c::value_string("absent")})).succeeded());
}

TEST_F(XmlRpcKvTest, ExistsKeysAndDelete) {
  for (const char* k : {"b", "a"}) {
    ASSERT_TRUE(
        Call("set", Params({xmlrpc_c::value_string(k), xmlrpc_c::value_string(k)})).succeeded());
  }
  xmlrpc_c::rpcOutcome keys = Call("keys", Params({}));
  ASSERT_TRUE(keys.succeeded());
  std::vector<xmlrpc_c::value> list = xmlrpc_c::value_array(keys.getResult()).cvalue();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(std::string(xmlrpc_c::value_string(list[0])), "a");
  EXPECT_TRUE(bool(
      xmlrpc_c::value_boolean(Call("exists", Params({xmlrpc_c::value_string("a")})).getResult())));
  ASSERT_TRUE(Call("delete", Params({xmlrpc_c::value_string("a")})).succeeded());
  EXPECT_FALSE(bool(
      xmlrpc_c::value_boolean(Call("exists", Params({xmlrpc_c::value_string("a")})).getResult())));
}

TEST_F(XmlRpcKvTest, WrongArgumentsAreFaults) {
  EXPECT_FALSE(Call("get", Params({xmlrpc_c::value_int(1)})).succeeded());
  EXPECT_FALSE(Call("get", Params({})).succeeded());
  EXPECT_FALSE(Call("set", Params({xmlrpc_c::value_string("only-key")})).succeeded());
  EXPECT_FALSE(Call("exists", Params({xmlrpc_c::value_string("a"), xmlrpc_c::value_string("b")}))
                   .succeeded());
  EXPECT_FALSE(Call("no_such_method", Params({})).succeeded());
}

TEST_F(XmlRpcKvTest, ValueOverTheStoreLimitIsAValueErrorFault) {
  xmlrpc_c::rpcOutcome set =
      Call("set",
           Params({xmlrpc_c::value_string("big"), xmlrpc_c::value_string(std::string(2048, 'x'))}));
  ASSERT_FALSE(set.succeeded());
  EXPECT_EQ(set.getFault().getDescription().rfind("<class 'ValueError'>", 0), 0u);
}

TEST_F(XmlRpcKvTest, MalformedXmlIsAFaultNeverACrash) {
  constexpr char kEmptyMember[] =
      "<methodCall><methodName>get</methodName><params><param><value><struct><member>"
      "</member></struct></value></param></params></methodCall>";
  for (const char* body :
       {"", "<", "<methodCall>", "<methodCall><methodName>get</methodName><params><param>",
        "not xml", "<?xml version='1.0'?><!DOCTYPE a [<!ENTITY b 'c'>]><a>&b;</a>", kEmptyMember}) {
    xmlrpc_c::rpcOutcome outcome = Parse(kv_->Handle(body));
    EXPECT_FALSE(outcome.succeeded()) << body;
  }
}

}  // namespace
}  // namespace nodegate::http
