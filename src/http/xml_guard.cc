#include "http/xml_guard.h"

#include <expat.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace nodegate::http {
namespace {

struct ParserFree {
  void operator()(XML_Parser p) const { XML_ParserFree(p); }
};
using ParserPtr = std::unique_ptr<std::remove_pointer_t<XML_Parser>, ParserFree>;

// What the handlers learn; `refusal` set means a handler stopped the parser on purpose.
struct GuardState {
  XML_Parser parser;
  size_t max_depth;
  size_t depth = 0;
  size_t i8_depth = 0;  // depth of the open <i8> element; 0 when none is open
  std::string i8_text;  // its character data so far
  std::string refusal;
};

// The longest <i8> content worth reading: "-9223372036854775808" is 20 characters.
constexpr size_t kMaxI8Chars = 32;

bool IsI8(const XML_Char* name) {
  return std::strcmp(name, "i8") == 0 || std::strcmp(name, "ex:i8") == 0;
}

// [+-]?[0-9]+ within int64: a subset of what xmlrpc-c's xmlrpc_parse_int64 (strtoll) accepts.
bool IsInt64(std::string_view text) {
  const bool plus = !text.empty() && text.front() == '+';
  if (plus) text.remove_prefix(1);
  if (text.empty() || (plus && text.front() == '-')) return false;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && end == text.data() + text.size();
}

void Refuse(GuardState* s, std::string reason) {
  if (s->refusal.empty()) s->refusal = std::move(reason);
  XML_StopParser(s->parser, XML_FALSE);
}

void XMLCALL OnStart(void* data, const XML_Char* name, const XML_Char** /*attrs*/) {
  auto* s = static_cast<GuardState*>(data);
  if (++s->depth > s->max_depth) {
    Refuse(s, absl::StrCat("elements nested deeper than ", s->max_depth));
    return;
  }
  if (s->i8_depth != 0) {
    Refuse(s, "<i8> holds an element");
    return;
  }
  if (IsI8(name)) {
    s->i8_depth = s->depth;
    s->i8_text.clear();
  }
}

// xmlrpc-c 1.33 (Debian 12) formats its fault for an <i8> value that strtoll does not take
// ("1x", "99999999999999999999", "1 ") with one argument short: printf then reads a string pointer
// that was never passed and the process crashes (found by tests/fuzz/xmlrpc_fuzzer.cc). Such a
// value must not reach it; anything but [+-]?[0-9]+ within int64 is refused here.
void XMLCALL OnText(void* data, const XML_Char* text, int len) {
  auto* s = static_cast<GuardState*>(data);
  if (s->i8_depth == 0 || s->depth != s->i8_depth) return;
  if (s->i8_text.size() + static_cast<size_t>(len) > kMaxI8Chars) {
    Refuse(s, "<i8> value is not a 64-bit integer");
    return;
  }
  s->i8_text.append(text, static_cast<size_t>(len));
}

void XMLCALL OnEnd(void* data, const XML_Char* /*name*/) {
  auto* s = static_cast<GuardState*>(data);
  if (s->i8_depth != 0 && s->depth == s->i8_depth) {
    s->i8_depth = 0;
    if (!IsInt64(s->i8_text)) {
      Refuse(s, "<i8> value is not a 64-bit integer");
      return;
    }
  }
  if (s->depth > 0) --s->depth;
}

void XMLCALL OnDoctype(void* data, const XML_Char* /*name*/, const XML_Char* /*sysid*/,
                       const XML_Char* /*pubid*/, int /*has_internal_subset*/) {
  Refuse(static_cast<GuardState*>(data), "DTDs and entities are refused");
}

// Unreachable while the doctype handler refuses every DTD (entity declarations live only in one);
// kept so that the refusal does not rest on a single handler.
void XMLCALL OnEntityDecl(void* data, const XML_Char* /*name*/, int /*is_parameter*/,
                          const XML_Char* /*value*/, int /*length*/, const XML_Char* /*base*/,
                          const XML_Char* /*sysid*/, const XML_Char* /*pubid*/,
                          const XML_Char* /*notation*/) {
  Refuse(static_cast<GuardState*>(data), "DTDs and entities are refused");
}

}  // namespace

absl::Status CheckUntrustedXml(std::string_view document, const XmlGuardLimits& limits) {
  if (limits.max_element_depth == 0) {
    return absl::InvalidArgumentError("xml: max_element_depth must be > 0");
  }
  if (document.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError("xml: document too large");
  }
  // NULL encoding: expat detects it from the BOM or the XML declaration, as xmlrpc-c's own
  // (expat-derived) parser does, so both read the same characters.
  ParserPtr parser(XML_ParserCreate(nullptr));
  if (parser == nullptr) return absl::ResourceExhaustedError("xml: cannot allocate a parser");
  GuardState state{parser.get(), limits.max_element_depth};
  XML_SetUserData(parser.get(), &state);
  XML_SetElementHandler(parser.get(), OnStart, OnEnd);
  XML_SetCharacterDataHandler(parser.get(), OnText);
  XML_SetStartDoctypeDeclHandler(parser.get(), OnDoctype);
  XML_SetEntityDeclHandler(parser.get(), OnEntityDecl);
  // Never fetch or expand an external (parameter) entity, whatever the document says.
  XML_SetParamEntityParsing(parser.get(), XML_PARAM_ENTITY_PARSING_NEVER);

  const XML_Status status = XML_Parse(parser.get(), document.data(),
                                      static_cast<int>(document.size()), /*isFinal=*/XML_TRUE);
  if (!state.refusal.empty()) return absl::InvalidArgumentError(state.refusal);
  if (status != XML_STATUS_OK) {
    const XML_Error code = XML_GetErrorCode(parser.get());
    return absl::InvalidArgumentError(absl::StrCat("not well-formed XML: ", XML_ErrorString(code),
                                                   " at line ",
                                                   XML_GetCurrentLineNumber(parser.get())));
  }
  return absl::OkStatus();
}

}  // namespace nodegate::http
