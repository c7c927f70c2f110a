#include "http/xml_guard.h"

#include <gtest/gtest.h>

#include <string>

namespace nodegate::http {
namespace {

constexpr char kCall[] =
    "<?xml version=\"1.0\"?><methodCall><methodName>get</methodName><params><param><value>"
    "<string>k</string></value></param></params></methodCall>";

// The classic "billion laughs": ten levels of ten-fold entity expansion from a tiny body.
std::string BillionLaughs(std::string_view declaration) {
  std::string doc = std::string(declaration) + "<!DOCTYPE lolz [<!ENTITY lol \"lol\">";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = i == 1 ? "lol" : "lol" + std::to_string(i - 1);
    doc += "<!ENTITY lol" + std::to_string(i) + " \"";
    for (int j = 0; j < 10; ++j) doc += "&" + prev + ";";
    doc += "\">";
  }
  return doc + "]><methodCall><methodName>&lol9;</methodName></methodCall>";
}

enum class Order { kLittle, kBig };

// ASCII → UTF-16, optionally with a byte-order mark.
std::string Utf16(std::string_view ascii, Order order, bool bom) {
  std::string out;
  if (bom) out = order == Order::kLittle ? std::string("\xff\xfe") : std::string("\xfe\xff");
  for (char c : ascii) {
    if (order == Order::kLittle) {
      out.push_back(c);
      out.push_back('\0');
    } else {
      out.push_back('\0');
      out.push_back(c);
    }
  }
  return out;
}

std::string Nested(size_t depth, std::string_view open, std::string_view close) {
  std::string doc;
  doc.reserve(depth * (open.size() + close.size()));
  for (size_t i = 0; i < depth; ++i) doc += open;
  for (size_t i = 0; i < depth; ++i) doc += close;
  return doc;
}

void ExpectRefused(const absl::Status& s, std::string_view why) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(std::string(s.message()).find(why), std::string::npos) << s;
}

TEST(XmlGuardTest, AcceptsAnXmlRpcCallInUtf8) { EXPECT_TRUE(CheckUntrustedXml(kCall).ok()); }

TEST(XmlGuardTest, AcceptsAnXmlRpcCallInUtf16WithEitherByteOrder) {
  for (Order order : {Order::kLittle, Order::kBig}) {
    std::string decl = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>";
    std::string call = std::string(kCall).replace(0, sizeof("<?xml version=\"1.0\"?>") - 1, decl);
    EXPECT_TRUE(CheckUntrustedXml(Utf16(call, order, /*bom=*/true)).ok());
  }
}

TEST(XmlGuardTest, Refuses180000NestedElements) {
  ExpectRefused(CheckUntrustedXml(Nested(180000, "<a>", "</a>")), "nested deeper than 512");
}

TEST(XmlGuardTest, Refuses90000NestedXmlRpcArrays) {
  std::string doc = "<methodCall><methodName>set</methodName><params><param>" +
                    Nested(90000, "<value><array><data>", "</data></array></value>") +
                    "</param></params></methodCall>";
  ExpectRefused(CheckUntrustedXml(doc), "nested deeper than");
}

TEST(XmlGuardTest, AcceptsDepthAtTheLimitAndRefusesOneMore) {
  XmlGuardLimits limits;
  limits.max_element_depth = 10;
  EXPECT_TRUE(CheckUntrustedXml(Nested(10, "<a>", "</a>"), limits).ok());
  ExpectRefused(CheckUntrustedXml(Nested(11, "<a>", "</a>"), limits), "nested deeper than 10");
}

TEST(XmlGuardTest, DepthIsCountedNotSummedAcrossSiblings) {
  XmlGuardLimits limits;
  limits.max_element_depth = 3;
  std::string siblings = "<r>";
  for (int i = 0; i < 1000; ++i) siblings += "<a><b/></a>";
  EXPECT_TRUE(CheckUntrustedXml(siblings + "</r>", limits).ok());
}

TEST(XmlGuardTest, RefusesAZeroDepthLimit) {
  XmlGuardLimits limits;
  limits.max_element_depth = 0;
  EXPECT_EQ(CheckUntrustedXml(kCall, limits).code(), absl::StatusCode::kInvalidArgument);
}

TEST(XmlGuardTest, RefusesUtf8BillionLaughs) {
  ExpectRefused(CheckUntrustedXml(BillionLaughs("<?xml version=\"1.0\"?>")),
                "DTDs and entities are refused");
}

TEST(XmlGuardTest, RefusesUtf16BillionLaughsWithByteOrderMark) {
  const std::string decl = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>";
  for (Order order : {Order::kLittle, Order::kBig}) {
    ExpectRefused(CheckUntrustedXml(Utf16(BillionLaughs(decl), order, /*bom=*/true)),
                  "DTDs and entities are refused");
  }
}

TEST(XmlGuardTest, RefusesUtf16BillionLaughsWithoutByteOrderMark) {
  // Without a BOM expat recognises UTF-16BE/LE from the first two bytes ("<\0" or "\0<").
  const std::string decl = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>";
  for (Order order : {Order::kLittle, Order::kBig}) {
    ExpectRefused(CheckUntrustedXml(Utf16(BillionLaughs(decl), order, /*bom=*/false)),
                  "DTDs and entities are refused");
  }
}

TEST(XmlGuardTest, RefusesUtf16LeAndBeDeclaredByName) {
  for (auto [name, order] : {std::pair{"UTF-16LE", Order::kLittle}, {"UTF-16BE", Order::kBig}}) {
    std::string decl = std::string("<?xml version=\"1.0\" encoding=\"") + name + "\"?>";
    ExpectRefused(CheckUntrustedXml(Utf16(BillionLaughs(decl), order, /*bom=*/false)),
                  "DTDs and entities are refused");
  }
}

TEST(XmlGuardTest, RefusesADoctypeWithoutEntities) {
  ExpectRefused(CheckUntrustedXml("<!DOCTYPE methodCall><methodCall/>"),
                "DTDs and entities are refused");
}

TEST(XmlGuardTest, RefusesAnInternalEntity) {
  ExpectRefused(CheckUntrustedXml("<!DOCTYPE m [<!ENTITY e \"x\">]><m>&e;</m>"),
                "DTDs and entities are refused");
}

TEST(XmlGuardTest, RefusesAnExternalEntity) {
  ExpectRefused(
      CheckUntrustedXml("<!DOCTYPE m [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><m>&e;</m>"),
      "DTDs and entities are refused");
}

TEST(XmlGuardTest, RefusesAnExternalDtd) {
  ExpectRefused(CheckUntrustedXml("<!DOCTYPE m SYSTEM \"http://127.0.0.1:1/x.dtd\"><m/>"),
                "DTDs and entities are refused");
}

TEST(XmlGuardTest, RefusesAParameterEntity) {
  ExpectRefused(CheckUntrustedXml("<!DOCTYPE m [<!ENTITY % p SYSTEM \"x.dtd\"> %p;]><m/>"),
                "DTDs and entities are refused");
}

TEST(XmlGuardTest, RefusesAReferenceToAnUndefinedEntity) {
  ExpectRefused(CheckUntrustedXml("<m>&nosuch;</m>"), "undefined entity");
}

TEST(XmlGuardTest, AcceptsPredefinedEntitiesAndCharacterReferences) {
  EXPECT_TRUE(CheckUntrustedXml("<m>&lt;&amp;&gt;&quot;&apos;&#65;&#x42;</m>").ok());
}

TEST(XmlGuardTest, RefusesMalformedXml) {
  for (const char* doc : {"", "<", "<a>", "not xml", "<a></b>", "<a/><b/>"}) {
    ExpectRefused(CheckUntrustedXml(doc), "not well-formed XML");
  }
}

TEST(XmlGuardTest, RefusesAnEncodingExpatDoesNotKnow) {
  ExpectRefused(CheckUntrustedXml("<?xml version=\"1.0\" encoding=\"EBCDIC-XX\"?><m/>"),
                "not well-formed XML");
}

// xmlrpc-c 1.33 crashes formatting its fault for an <i8> it cannot parse (xml_guard.cc).
TEST(XmlGuardTest, RefusesAnI8ThatIsNotA64BitInteger) {
  for (const char* v : {"99999999999999999999", "-9223372036854775809", "1x", "1 ", " 1", "", "+",
                        "-", "+-1", "0x10", "1.5"}) {
    ExpectRefused(CheckUntrustedXml(std::string("<value><i8>") + v + "</i8></value>"),
                  "<i8> value is not a 64-bit integer");
    ExpectRefused(CheckUntrustedXml(std::string("<value><ex:i8>") + v + "</ex:i8></value>"),
                  "<i8> value is not a 64-bit integer");
  }
}

TEST(XmlGuardTest, AcceptsAnI8InRange) {
  for (const char* v : {"0", "42", "+42", "-42", "9223372036854775807", "-9223372036854775808",
                        "&#49;2", "<![CDATA[12]]>"}) {
    EXPECT_TRUE(CheckUntrustedXml(std::string("<value><i8>") + v + "</i8></value>").ok()) << v;
  }
}

TEST(XmlGuardTest, RefusesAnElementInsideAnI8) {
  ExpectRefused(CheckUntrustedXml("<value><i8>1<b/>2</i8></value>"), "<i8> holds an element");
}

}  // namespace
}  // namespace nodegate::http
