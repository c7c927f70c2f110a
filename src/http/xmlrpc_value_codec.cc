#include "http/xmlrpc_value_codec.h"

#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/xml.hpp>

#include "absl/strings/str_cat.h"

namespace nodegate::http {
namespace {

constexpr std::string_view kParamOpen = "<param>";
constexpr std::string_view kParamClose = "</param>";

}  // namespace

bool IsXmlText(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
      ++i;
      continue;
    }
    int extra = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates, beyond Unicode, and the two non-characters XML excludes.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF || cp == 0xFFFE || cp == 0xFFFF) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

absl::StatusOr<EncodedValue> EncodeValue(const xmlrpc_c::value& value) {
  try {
    if (value.type() == xmlrpc_c::value::TYPE_STRING) {
      return EncodedValue{std::string(xmlrpc_c::value_string(value)),
                          std::string(kTextContentType)};
    }
    std::string xml;
    xmlrpc_c::xml::generateResponse(xmlrpc_c::rpcOutcome(value), &xml);
    // xmlrpc-c writes <methodResponse><params><param><value>…</value></param>…; keep the value.
    size_t open = xml.find(kParamOpen);
    size_t close = xml.rfind(kParamClose);
    if (open == std::string::npos || close == std::string::npos || close < open) {
      return absl::InternalError("xmlrpc: unexpected response layout from xmlrpc-c");
    }
    open += kParamOpen.size();
    return EncodedValue{xml.substr(open, close - open), std::string(kXmlRpcValueContentType)};
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("xmlrpc: cannot encode value: ", e.what()));
  }
}

absl::StatusOr<xmlrpc_c::value> DecodeValue(std::string_view bytes, std::string_view content_type) {
  if (content_type == kXmlRpcValueContentType) {
    std::string xml =
        absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodResponse><params><param>",
                     std::string(bytes), "</param></params></methodResponse>");
    try {
      xmlrpc_c::value v;
      xmlrpc_c::xml::parseSuccessfulResponse(xml, &v);
      return v;
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("stored value is not valid XML-RPC: ", e.what()));
    }
  }
  if (IsXmlText(bytes)) return xmlrpc_c::value(xmlrpc_c::value_string(std::string(bytes)));
  return xmlrpc_c::value(
      xmlrpc_c::value_bytestring(std::vector<unsigned char>(bytes.begin(), bytes.end())));
}

}  // namespace nodegate::http
