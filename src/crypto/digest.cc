#include "crypto/digest.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "crypto/encoding.h"
#include "crypto/openssl_error.h"

namespace nodegate::crypto {
namespace {

[[noreturn]] void Fail(const char* name) {
  std::fprintf(stderr, "nodegate: %s digest failed: %s\n", name, DrainOpenSslErrors().c_str());
  std::abort();
}

// OpenSSL 3.0 looks an algorithm up in its provider tables (under a lock) each time EVP_sha256()
// and friends are used, and EVP_Digest allocates a context per call: together ≈1 µs, which was
// most of what a token costs per call (docs/benchmarks.md, "Engine h2"). So each algorithm is
// fetched once for the process, and each thread keeps one context that it re-initialises.
struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

const EVP_MD* FetchedSha256() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  return md;
}

const EVP_MD* FetchedSm3() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SM3", nullptr);
  return md;
}

std::string Digest(const EVP_MD* md, const char* name, std::string_view data) {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (md == nullptr || ctx == nullptr || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) != 1) {
    Fail(name);
  }
  out.resize(len);
  return out;
}

}  // namespace

std::string Sha256(std::string_view data) { return Digest(FetchedSha256(), "SHA-256", data); }

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

std::string Sm3(std::string_view data) { return Digest(FetchedSm3(), "SM3", data); }

}  // namespace nodegate::crypto
