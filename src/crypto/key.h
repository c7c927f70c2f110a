// Key pairs as PEM text: generation, the public half of a private key, which algorithm a key is
// for, and a stable fingerprint for logs and registries.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/algorithm.h"

namespace nodegate::crypto {

struct KeyPair {
  std::string private_key_pem;  // PKCS#8, unencrypted ("BEGIN PRIVATE KEY"). A secret: never log.
  std::string public_key_pem;   // SubjectPublicKeyInfo ("BEGIN PUBLIC KEY").
};

// A fresh key pair for `algorithm` from OpenSSL's DRBG: SM2, EC prime256v1 or ED25519.
absl::StatusOr<KeyPair> GenerateKeyPair(Algorithm algorithm);

// The SubjectPublicKeyInfo PEM of the key in `private_pem` (any supported type).
absl::StatusOr<std::string> PublicKeyPemFromPrivate(std::string_view private_pem);

// The algorithm a public (SPKI) or private (PKCS#8) PEM key serves. INVALID_ARGUMENT for anything
// else, including keys OpenSSL understands but nodegate does not use (RSA, P-384, ...).
absl::StatusOr<Algorithm> DetectAlgorithm(std::string_view public_or_private_pem);

// Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo in `public_pem` (64 characters). The same
// value `openssl pkey -pubin -outform DER | sha256sum` prints.
absl::StatusOr<std::string> PublicKeyFingerprint(std::string_view public_pem);

}  // namespace nodegate::crypto
