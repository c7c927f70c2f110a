#include "crypto/key.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "crypto/digest.h"
#include "crypto/openssl_error.h"
#include "crypto/openssl_ptr.h"
#include "crypto/pem_key.h"

namespace nodegate::crypto {

absl::StatusOr<KeyPair> GenerateKeyPair(Algorithm algorithm) {
  EvpPkeyPtr key;
  switch (algorithm) {
    case Algorithm::kSm2Sm3:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2"));
      break;
    case Algorithm::kEcdsaP256Sha256:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
      break;
    case Algorithm::kEd25519:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      break;
  }
  if (!key) {
    return OpenSslError(
        absl::StrCat("generating a ", std::string(AlgorithmName(algorithm)), " key failed"));
  }

  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return OpenSslError("BIO_new failed");
  // In OpenSSL 3.0 PEM_write_bio_PrivateKey writes PKCS#8 for every key type.
  if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey failed");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return OpenSslError("PEM_write_bio_PrivateKey wrote nothing");

  KeyPair pair;
  pair.private_key_pem.assign(data, static_cast<size_t>(len));
  OPENSSL_cleanse(data, static_cast<size_t>(len));  // The BIO's copy of the secret.
  auto public_pem = internal::PublicKeyPem(key.get());
  if (!public_pem.ok()) return public_pem.status();
  pair.public_key_pem = *std::move(public_pem);
  return pair;
}

absl::StatusOr<std::string> PublicKeyPemFromPrivate(std::string_view private_pem) {
  auto key = internal::ParsePrivateKeyPem(private_pem);
  if (!key.ok()) return key.status();
  if (auto supported = internal::KeyAlgorithm(key->get()); !supported.ok()) {
    return supported.status();
  }
  return internal::PublicKeyPem(key->get());
}

absl::StatusOr<Algorithm> DetectAlgorithm(std::string_view public_or_private_pem) {
  auto key = internal::ParsePublicKeyPem(public_or_private_pem);
  if (!key.ok()) {
    auto private_key = internal::ParsePrivateKeyPem(public_or_private_pem);
    if (!private_key.ok()) {
      return absl::InvalidArgumentError(
          "neither a PEM public key (\"BEGIN PUBLIC KEY\") nor an unencrypted PEM private key "
          "(\"BEGIN PRIVATE KEY\")");
    }
    key = std::move(private_key);
  }
  return internal::KeyAlgorithm(key->get());
}

absl::StatusOr<std::string> PublicKeyFingerprint(std::string_view public_pem) {
  auto key = internal::ParsePublicKeyPem(public_pem);
  if (!key.ok()) return key.status();
  const int len = i2d_PUBKEY(key->get(), nullptr);
  if (len <= 0) return OpenSslError("i2d_PUBKEY failed");
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(key->get(), &out) != len) return OpenSslError("i2d_PUBKEY failed");
  return Sha256Hex(der);
}

}  // namespace nodegate::crypto
