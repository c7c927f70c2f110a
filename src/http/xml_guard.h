// The first parser an untrusted XML document meets: a streaming libexpat pass that refuses what no
// XML-RPC call needs and what makes a small body expensive further on — a DTD (and with it every
// entity declaration, internal or external) and element nesting deeper than a fixed bound —
// before xmlrpc-c builds its tree. It holds in every encoding the document may declare: expat
// decodes UTF-16 (with or without a BOM) itself, so "<!DOCTYPE" cannot hide in two-byte
// characters the way it could from a byte scan.
//
// Why a depth bound here and not only xmlrpc-c's nesting limit: xmlrpc-c parses the whole document
// into a tree first and frees that tree recursively, so 180,000 nested elements overflow the stack
// before its value-nesting limit (which counts XML-RPC values, not elements) is ever consulted.
// expat keeps its open-element stack on the heap and never recurses per element.
//
// Self-contained (no xmlrpc-c, no transport) so that a fuzzer can call CheckUntrustedXml directly.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"

namespace nodegate::http {

// Legal XML-RPC under xmlrpc-c's default nesting limit (64 values) needs at most about
// 3 (methodCall/params/param) + 3 per nested value (value/array/data or value/struct/member)
// + 2 (name, scalar) ≈ 200 levels; 512 leaves room for a raised limit and stays far below what
// xmlrpc-c's recursive tree code can take on a thread's stack.
inline constexpr size_t kMaxXmlElementDepth = 512;

struct XmlGuardLimits {
  size_t max_element_depth = kMaxXmlElementDepth;  // > 0
};

// OK when `document` is well-formed XML (in any encoding expat knows: UTF-8, UTF-16 BE/LE,
// ISO-8859-1, US-ASCII) with no document type declaration, no entity declaration, no reference to
// an undefined entity, no element deeper than `limits.max_element_depth`, and no <i8> (or <ex:i8>)
// whose content is other than [+-]?[0-9]+ within int64 or that holds an element (xmlrpc-c 1.33
// crashes on an <i8> value it cannot parse; xml_guard.cc says how).
// INVALID_ARGUMENT otherwise, with a message that says which (and the line, for syntax errors).
// Stops at the first offending construct: cost is linear in the bytes read up to it.
absl::Status CheckUntrustedXml(std::string_view document, const XmlGuardLimits& limits = {});

}  // namespace nodegate::http
