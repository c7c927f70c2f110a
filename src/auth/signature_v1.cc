#include "auth/signature_v1.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "crypto/encoding.h"

namespace nodegate::auth::sigv1 {

std::string StringToSign(std::string_view full_method, std::string_view audience,
                         std::string_view node_id, std::string_view timestamp_ms,
                         std::string_view nonce) {
  std::string s;
  s.reserve(kDomain.size() + full_method.size() + audience.size() + node_id.size() +
            timestamp_ms.size() + nonce.size() + 5);
  s.append(kDomain).push_back('\n');
  s.append(full_method).push_back('\n');
  s.append(audience).push_back('\n');
  s.append(node_id).push_back('\n');
  s.append(timestamp_ms).push_back('\n');
  s.append(nonce);
  return s;
}

bool IsValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

absl::StatusOr<SignedHeaders> ParseSignedHeaders(std::string_view node_id,
                                                 std::string_view timestamp, std::string_view nonce,
                                                 std::string_view signature_b64) {
  SignedHeaders h;
  if (!IsValidNodeId(node_id)) {
    return absl::UnauthenticatedError("x-node-id: not [A-Za-z0-9._-]{1,128}");
  }
  h.node_id = node_id;
  if (timestamp.empty() || timestamp.size() > 16) {
    return absl::UnauthenticatedError("x-node-timestamp: not a Unix time in milliseconds");
  }
  int64_t ts = 0;
  for (char c : timestamp) {
    if (c < '0' || c > '9') {
      return absl::UnauthenticatedError("x-node-timestamp: not a decimal number");
    }
    ts = ts * 10 + (c - '0');
  }
  h.timestamp = timestamp;
  h.timestamp_ms = ts;
  // base64url length bound first, so an oversized value is refused before any decoding work.
  if (nonce.size() > (kMaxNonceBytes * 4 + 2) / 3) {
    return absl::UnauthenticatedError("x-node-nonce: too long");
  }
  absl::StatusOr<std::string> raw_nonce = crypto::Base64UrlDecode(nonce);
  if (!raw_nonce.ok())
    return absl::UnauthenticatedError("x-node-nonce: not base64url without padding");
  if (raw_nonce->size() < kMinNonceBytes) {
    return absl::UnauthenticatedError("x-node-nonce: shorter than 16 bytes");
  }
  h.nonce = nonce;
  if (signature_b64.size() > kMaxSignatureChars) {
    return absl::UnauthenticatedError("x-node-signature: too long");
  }
  absl::StatusOr<std::string> sig = crypto::Base64UrlDecode(signature_b64);
  if (!sig.ok() || sig->empty()) {
    return absl::UnauthenticatedError("x-node-signature: not base64url without padding");
  }
  h.signature = *std::move(sig);
  return h;
}

}  // namespace nodegate::auth::sigv1
