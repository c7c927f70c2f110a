#include "crypto/pem_key.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "crypto/openssl_error.h"

namespace nodegate::crypto::internal {
namespace {

// A key file is a few hundred bytes; anything this large is not one, and BIO lengths are ints.
constexpr size_t kMaxPemSize = 1 << 20;

// Without a callback OpenSSL would prompt on the controlling terminal for an encrypted key's
// passphrase, which would hang a daemon. Returning -1 makes decoding fail instead.
int RefusePassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

absl::StatusOr<BioPtr> ReadOnlyBio(std::string_view pem, absl::string_view what) {
  if (pem.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty input"));
  if (pem.size() > kMaxPemSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": input of ", pem.size(), " bytes is larger than ", kMaxPemSize));
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError(absl::StrCat(what, ": BIO_new_mem_buf failed"));
  return bio;
}

std::string GroupName(const EVP_PKEY* key) {
  char name[80] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) !=
      1) {
    ERR_clear_error();
    return "";
  }
  return {name, len};
}

absl::string_view ExpectedKey(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kSm2Sm3:
      return "an SM2 key (curve SM2)";
    case Algorithm::kEcdsaP256Sha256:
      return "an EC key on curve prime256v1 (P-256)";
    case Algorithm::kEd25519:
      return "an ED25519 key";
  }
  return "a supported key";
}

}  // namespace

absl::StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(std::string_view pem) {
  constexpr absl::string_view kWhat = "private key PEM";
  auto bio = ReadOnlyBio(pem, kWhat);
  if (!bio.ok()) return bio.status();
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, RefusePassphrase, nullptr));
  if (!key) {
    return OpenSslError(
        absl::StrCat(kWhat,
                     ": not an unencrypted PEM private key (expected \"BEGIN PRIVATE KEY\")"),
        absl::StatusCode::kInvalidArgument);
  }
  return key;
}

absl::StatusOr<EvpPkeyPtr> ParsePublicKeyPem(std::string_view pem) {
  constexpr absl::string_view kWhat = "public key PEM";
  auto bio = ReadOnlyBio(pem, kWhat);
  if (!bio.ok()) return bio.status();
  EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio->get(), nullptr, RefusePassphrase, nullptr));
  if (!key) {
    return OpenSslError(
        absl::StrCat(kWhat, ": not a PEM SubjectPublicKeyInfo (expected \"BEGIN PUBLIC KEY\")"),
        absl::StatusCode::kInvalidArgument);
  }
  return key;
}

std::string DescribeKey(const EVP_PKEY* key) {
  if (key == nullptr) return "no key";
  // OpenSSL 3.0 decodes a key on the SM2 curve as type "SM2", not "EC"; keep the two apart here.
  if (EVP_PKEY_is_a(key, "SM2")) return "an SM2 key";
  if (EVP_PKEY_is_a(key, "EC")) {
    std::string group = GroupName(key);
    return absl::StrCat("an EC key on curve ", group.empty() ? "(unnamed)" : group);
  }
  if (EVP_PKEY_is_a(key, "ED25519")) return "an ED25519 key";
  const char* type = EVP_PKEY_get0_type_name(key);
  return absl::StrCat("a key of type ", type != nullptr ? type : "(unknown)", " (",
                      EVP_PKEY_get_bits(key), " bits)");
}

absl::StatusOr<Algorithm> KeyAlgorithm(const EVP_PKEY* key) {
  if (key != nullptr) {
    if (EVP_PKEY_is_a(key, "SM2")) return Algorithm::kSm2Sm3;
    if (EVP_PKEY_is_a(key, "EC") && GroupName(key) == "prime256v1") {
      return Algorithm::kEcdsaP256Sha256;
    }
    if (EVP_PKEY_is_a(key, "ED25519")) return Algorithm::kEd25519;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unsupported key: got ", DescribeKey(key),
      "; supported are SM2 (sm2-sm3), EC prime256v1 (ecdsa-p256-sha256), ED25519 (ed25519)"));
}

absl::Status CheckKeyFor(Algorithm algorithm, const EVP_PKEY* key) {
  auto actual = KeyAlgorithm(key);
  if (actual.ok() && *actual == algorithm) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("key type mismatch: algorithm ", std::string(AlgorithmName(algorithm)),
                   " needs ", ExpectedKey(algorithm), ", got ", DescribeKey(key)));
}

absl::StatusOr<std::string> PublicKeyPem(const EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return OpenSslError("BIO_new failed");
  if (PEM_write_bio_PUBKEY(bio.get(), key) != 1) return OpenSslError("PEM_write_bio_PUBKEY failed");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return OpenSslError("PEM_write_bio_PUBKEY wrote nothing");
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace nodegate::crypto::internal
