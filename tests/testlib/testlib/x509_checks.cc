#include "testlib/x509_checks.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace nodegate::testlib {

crypto::X509Ptr ParseX509(std::string_view pem) {
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return crypto::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

crypto::EvpPkeyPtr ParseKey(std::string_view pem) {
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return crypto::EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

crypto::X509CrlPtr ParseCrl(std::string_view pem) {
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return crypto::X509CrlPtr(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
}

int VerifyError(std::string_view ca_pem, std::string_view cert_pem, int purpose) {
  crypto::X509Ptr ca = ParseX509(ca_pem);
  crypto::X509Ptr cert = ParseX509(cert_pem);
  if (!ca || !cert) return X509_V_ERR_UNSPECIFIED;
  crypto::X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.get());
  crypto::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (purpose != 0) X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  int ok = X509_verify_cert(ctx.get());
  int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : err;
}

std::string SerialHex(X509* cert) {
  crypto::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

bool CrlLists(X509_CRL* crl, const std::string& serial_hex) {
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, serial_hex.c_str()) == 0) return false;
  crypto::BignumPtr bn(raw);
  crypto::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  X509_REVOKED* rev = nullptr;
  return X509_CRL_get0_by_serial(crl, &rev, serial.get()) == 1;
}

int RevokedCount(X509_CRL* crl) {
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  return revoked == nullptr ? 0 : sk_X509_REVOKED_num(revoked);
}

}  // namespace nodegate::testlib
