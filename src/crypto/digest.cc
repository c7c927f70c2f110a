#include "crypto/digest.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

#include "crypto/encoding.h"
#include "crypto/openssl_error.h"

namespace nodegate::crypto {
namespace {

std::string Digest(const EVP_MD* md, const char* name, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (md == nullptr ||
      EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, md,
                 nullptr) != 1) {
    std::fprintf(stderr, "nodegate: %s digest failed: %s\n", name, DrainOpenSslErrors().c_str());
    std::abort();
  }
  out.resize(len);
  return out;
}

}  // namespace

std::string Sha256(std::string_view data) { return Digest(EVP_sha256(), "SHA-256", data); }

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

std::string Sm3(std::string_view data) { return Digest(EVP_sm3(), "SM3", data); }

}  // namespace nodegate::crypto
