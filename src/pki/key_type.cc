#include "pki/key_type.h"

#include <openssl/core_names.h>

#include "absl/strings/str_cat.h"
#include "crypto/openssl_error.h"

namespace nodegate::pki {

absl::StatusOr<KeyType> ParseKeyType(std::string_view name) {
  if (name == "ecdsa-p256") return KeyType::kEcdsaP256;
  if (name == "ed25519") return KeyType::kEd25519;
  if (name == "rsa-3072") return KeyType::kRsa3072;
  return absl::InvalidArgumentError(absl::StrCat("unknown key type '", std::string(name),
                                                 "'; valid: ecdsa-p256, ed25519, rsa-3072"));
}

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return "ecdsa-p256";
    case KeyType::kEd25519:
      return "ed25519";
    case KeyType::kRsa3072:
      return "rsa-3072";
  }
  return "unknown";
}

absl::StatusOr<crypto::EvpPkeyPtr> GenerateKey(KeyType type) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kEcdsaP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyType::kRsa3072:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072});
      break;
  }
  if (key == nullptr) {
    return crypto::OpenSslError(
        absl::StrCat("generating a ", std::string(KeyTypeName(type)), " key"));
  }
  return crypto::EvpPkeyPtr(key);
}

std::string DescribeKey(const EVP_PKEY* key) {
  if (key == nullptr) return "none";
  if (EVP_PKEY_is_a(key, "ED25519")) return "ed25519";
  if (EVP_PKEY_is_a(key, "SM2")) return "sm2";
  if (EVP_PKEY_is_a(key, "RSA")) return absl::StrCat("rsa-", EVP_PKEY_get_bits(key));
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) == 1) {
      std::string_view g(group, len);
      if (g == "prime256v1" || g == "P-256") return "ecdsa-p256";
      if (g == "SM2") return "sm2";
      return absl::StrCat("ec-", std::string(g));
    }
    return "ec";
  }
  return EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown";
}

}  // namespace nodegate::pki
