// Key types nodegate's PKI issues certificates for.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/openssl_ptr.h"

namespace nodegate::pki {

enum class KeyType { kEcdsaP256, kEd25519, kRsa3072 };

// Accepts "ecdsa-p256", "ed25519", "rsa-3072".
absl::StatusOr<KeyType> ParseKeyType(std::string_view name);
std::string_view KeyTypeName(KeyType type);

absl::StatusOr<crypto::EvpPkeyPtr> GenerateKey(KeyType type);

// "ecdsa-p256", "ed25519", "rsa-3072", "sm2", "ec-<curve>", "rsa-<bits>", … for display.
std::string DescribeKey(const EVP_PKEY* key);

}  // namespace nodegate::pki
