// The signature algorithms nodegate speaks on the wire (design §3), and their wire names.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace nodegate::crypto {

// An algorithm is registered with a node's key and is never chosen by the caller.
enum class Algorithm {
  kSm2Sm3,  // "sm2-sm3": SM2 with SM3, distinguishing ID "1234567812345678", DER signature.
  kEcdsaP256Sha256,  // "ecdsa-p256-sha256": ECDSA on prime256v1 with SHA-256, DER signature.
  kEd25519,          // "ed25519": pure Ed25519 (RFC 8032), 64-byte signature.
};

// Accepts exactly the wire names above (case-sensitive); INVALID_ARGUMENT names the valid values.
absl::StatusOr<Algorithm> ParseAlgorithm(std::string_view name);

// The wire name, e.g. "sm2-sm3".
std::string_view AlgorithmName(Algorithm algorithm);

}  // namespace nodegate::crypto
