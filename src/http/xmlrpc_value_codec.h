// How an XML-RPC value is kept in the node's KeyValue store so that it comes back with its type,
// and so that gRPC readers of the same key see something sensible.
//
//   string            → the UTF-8 text itself, content_type "text/plain; charset=utf-8"
//   anything else     → the value's XML-RPC XML, `<value>…</value>` as xmlrpc-c writes it,
//   (int, i8, double,    content_type kXmlRpcValueContentType
//    boolean, base64,
//    dateTime, array,
//    struct, nil)
//
// Reading: kXmlRpcValueContentType is parsed back into the value (xmlrpc-c's parser); any other
// entry (e.g. set over gRPC as application/json or with no type) is returned as a string when it is
// valid UTF-8 that XML can carry, else as base64 — so every key is readable over XML-RPC.
#pragma once

#include <string>
#include <string_view>
#include <xmlrpc-c/base.hpp>

#include "absl/status/statusor.h"

namespace nodegate::http {

inline constexpr std::string_view kXmlRpcValueContentType =
    "application/vnd.nodegate.xmlrpc-value+xml";
inline constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

struct EncodedValue {
  std::string bytes;
  std::string content_type;
};

absl::StatusOr<EncodedValue> EncodeValue(const xmlrpc_c::value& value);
// INVALID_ARGUMENT when an entry tagged kXmlRpcValueContentType does not parse.
absl::StatusOr<xmlrpc_c::value> DecodeValue(std::string_view bytes, std::string_view content_type);

// True when `text` is UTF-8 made only of characters XML 1.0 allows (no NUL or other C0 controls
// except tab, newline and carriage return).
bool IsXmlText(std::string_view text);

}  // namespace nodegate::http
