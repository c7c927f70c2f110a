#include "http/xml_guard.h"

#include <expat.h>

#include <limits>
#include <memory>
#include <string>

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
  std::string refusal;
};

void Refuse(GuardState* s, std::string reason) {
  if (s->refusal.empty()) s->refusal = std::move(reason);
  XML_StopParser(s->parser, XML_FALSE);
}

void XMLCALL OnStart(void* data, const XML_Char* /*name*/, const XML_Char** /*attrs*/) {
  auto* s = static_cast<GuardState*>(data);
  if (++s->depth > s->max_depth) {
    Refuse(s, absl::StrCat("elements nested deeper than ", s->max_depth));
  }
}

void XMLCALL OnEnd(void* data, const XML_Char* /*name*/) {
  auto* s = static_cast<GuardState*>(data);
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
