// Wire format v1 of the per-call node signature (design §3, docs/auth.md). Shared by the client
// plugin and the server authenticator so that both sides build the very same string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace nodegate::auth::sigv1 {

inline constexpr std::string_view kNodeIdHeader = "x-node-id";
inline constexpr std::string_view kTimestampHeader = "x-node-timestamp";
inline constexpr std::string_view kNonceHeader = "x-node-nonce";
inline constexpr std::string_view kSignatureHeader = "x-node-signature";
inline constexpr std::string_view kDomain = "NODEGATE-SIG-V1";

inline constexpr size_t kMinNonceBytes = 16;
inline constexpr size_t kMaxNonceBytes = 64;
inline constexpr size_t kMaxSignatureChars = 256;  // base64url of ≤ 192 bytes (DER ECDSA ≤ 72)

// "NODEGATE-SIG-V1\n<path>\n<audience>\n<node_id>\n<timestamp_ms>\n<nonce>" — no trailing newline.
std::string StringToSign(std::string_view full_method, std::string_view audience,
                         std::string_view node_id, std::string_view timestamp_ms,
                         std::string_view nonce);

// [A-Za-z0-9._-]{1,128}
bool IsValidNodeId(std::string_view id);

// The headers of one call, syntactically checked (not yet verified).
struct SignedHeaders {
  std::string_view node_id;
  std::string_view timestamp;  // as sent, it is part of the signed string
  int64_t timestamp_ms = 0;
  std::string_view nonce;  // as sent (base64url)
  std::string signature;   // decoded bytes
};

// Errors are UNAUTHENTICATED and name the header ("x-node-timestamp: not a decimal number").
absl::StatusOr<SignedHeaders> ParseSignedHeaders(std::string_view node_id,
                                                 std::string_view timestamp, std::string_view nonce,
                                                 std::string_view signature_b64);

}  // namespace nodegate::auth::sigv1
