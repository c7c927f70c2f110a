// Text encodings of bytes: base64url without padding (the wire form of nonces and signatures,
// design §3), standard base64 (PEM bodies), hex (fingerprints, digests).
//
// Decoders are strict and canonical: for any byte string there is exactly one accepted encoding, so
// two different header values never decode to the same bytes. INVALID_ARGUMENT says what was wrong
// and at which offset; it never echoes more than the one offending character.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace nodegate::crypto {

// RFC 4648 §5 alphabet (A-Z a-z 0-9 - _), no '=' padding.
std::string Base64UrlEncode(std::string_view data);

// Rejects '=' padding, '+', '/', whitespace and any other character outside the alphabet, lengths
// of the form 4n+1 (they cannot encode whole bytes), and non-zero unused bits in the last
// character. The empty string decodes to the empty string.
absl::StatusOr<std::string> Base64UrlDecode(std::string_view encoded);

// RFC 4648 §4 alphabet (A-Z a-z 0-9 + /), '=' padded to a multiple of 4.
std::string Base64Encode(std::string_view data);

// Requires the padding Base64Encode writes; rejects whitespace, characters outside the alphabet,
// misplaced '=' and non-zero unused bits.
absl::StatusOr<std::string> Base64Decode(std::string_view encoded);

// Lowercase hex, two characters per byte.
std::string HexEncode(std::string_view data);

// Accepts upper- and lowercase digits; rejects odd lengths and non-hex characters.
absl::StatusOr<std::string> HexDecode(std::string_view encoded);

// %XX decoding as in URLs (nginx's $ssl_client_escaped_cert). Malformed escapes are kept as text.
std::string PercentDecode(std::string_view encoded);

}  // namespace nodegate::crypto
