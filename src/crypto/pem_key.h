// Internal to nodegate_crypto: PEM <-> EVP_PKEY and "which algorithm is this key for". Code outside
// src/crypto/ never sees an EVP_PKEY; it uses crypto/key.h and crypto/signer_factory.h.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/algorithm.h"
#include "crypto/openssl_ptr.h"

namespace nodegate::crypto::internal {

// A private key from PEM: PKCS#8 ("BEGIN PRIVATE KEY") or a traditional form ("BEGIN EC PRIVATE
// KEY", "BEGIN SM2 PRIVATE KEY"). Encrypted keys are refused, never prompted for.
absl::StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(std::string_view pem);

// A public key from a SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY").
absl::StatusOr<EvpPkeyPtr> ParsePublicKeyPem(std::string_view pem);

// "an SM2 key", "an EC key on curve secp384r1", "an ED25519 key", "a key of type RSA (2048 bits)".
std::string DescribeKey(const EVP_PKEY* key);

// The algorithm a key serves, or INVALID_ARGUMENT describing the unsupported key.
absl::StatusOr<Algorithm> KeyAlgorithm(const EVP_PKEY* key);

// OK when `key` is the key type `algorithm` needs; otherwise INVALID_ARGUMENT saying what was
// expected and what was given.
absl::Status CheckKeyFor(Algorithm algorithm, const EVP_PKEY* key);

// PEM text of the SubjectPublicKeyInfo of `key` (works for private keys too).
absl::StatusOr<std::string> PublicKeyPem(const EVP_PKEY* key);

}  // namespace nodegate::crypto::internal
