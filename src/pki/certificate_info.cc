#include "pki/certificate_info.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "crypto/openssl_error.h"
#include "crypto/openssl_ptr.h"
#include "pki/key_type.h"
#include "pki/pem.h"

namespace nodegate::pki {
namespace {

std::string NameToString(const X509_NAME* name) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len > 0 ? static_cast<size_t>(len) : 0);
}

std::string Asn1String(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::string IpToString(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {0};
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  int len = ASN1_STRING_length(ip);
  if (len == 4)
    inet_ntop(AF_INET, data, buf, sizeof(buf));
  else if (len == 16)
    inet_ntop(AF_INET6, data, buf, sizeof(buf));
  else
    return "<invalid>";
  return buf;
}

}  // namespace

absl::StatusOr<CertificateInfo> DescribeCertificate(X509* cert) {
  CertificateInfo info;
  info.subject = NameToString(X509_get_subject_name(cert));
  info.issuer = NameToString(X509_get_issuer_name(cert));
  int idx = X509_NAME_get_index_by_NID(X509_get_subject_name(cert), NID_commonName, -1);
  if (idx >= 0) {
    info.common_name =
        Asn1String(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(X509_get_subject_name(cert), idx)));
  }
  crypto::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (bn) {
    char* hex = BN_bn2hex(bn.get());
    info.serial_hex = hex;
    OPENSSL_free(hex);
  }
  GENERAL_NAMES* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  crypto::GeneralNamesPtr owned(names);
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    switch (gn->type) {
      case GEN_DNS:
        info.sans.push_back(absl::StrCat("DNS:", Asn1String(gn->d.dNSName)));
        break;
      case GEN_IPADD:
        info.sans.push_back(absl::StrCat("IP:", IpToString(gn->d.iPAddress)));
        break;
      case GEN_URI: {
        std::string uri = Asn1String(gn->d.uniformResourceIdentifier);
        info.sans.push_back(absl::StrCat("URI:", uri));
        info.uris.push_back(uri);
        break;
      }
      case GEN_EMAIL:
        info.sans.push_back(absl::StrCat("email:", Asn1String(gn->d.rfc822Name)));
        break;
      default:
        break;
    }
  }
  absl::StatusOr<absl::Time> nb = Asn1TimeToAbsl(X509_get0_notBefore(cert));
  absl::StatusOr<absl::Time> na = Asn1TimeToAbsl(X509_get0_notAfter(cert));
  if (!nb.ok() || !na.ok())
    return absl::InvalidArgumentError("certificate has an invalid validity");
  info.not_before = *nb;
  info.not_after = *na;
  info.key_type = DescribeKey(X509_get0_pubkey(cert));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1) {
    return crypto::OpenSslError("certificate fingerprint");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < md_len; ++i) {
    info.sha256_fingerprint.push_back(kHex[md[i] >> 4]);
    info.sha256_fingerprint.push_back(kHex[md[i] & 0xf]);
  }
  info.is_ca = X509_check_ca(cert) != 0;
  // X509_get_key_usage / X509_get_extended_key_usage also cache the extensions (they call
  // X509_check_purpose); a missing extension reads as UINT32_MAX.
  const uint32_t ku = X509_get_key_usage(cert);
  if (ku != UINT32_MAX) {
    static constexpr std::pair<uint32_t, const char*> kBits[] = {
        {KU_DIGITAL_SIGNATURE, "digitalSignature"},
        {KU_NON_REPUDIATION, "nonRepudiation"},
        {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
        {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
        {KU_KEY_AGREEMENT, "keyAgreement"},
        {KU_KEY_CERT_SIGN, "keyCertSign"},
        {KU_CRL_SIGN, "cRLSign"},
        {KU_ENCIPHER_ONLY, "encipherOnly"},
        {KU_DECIPHER_ONLY, "decipherOnly"}};
    for (const auto& [bit, name] : kBits) {
      if ((ku & bit) != 0) info.key_usage.emplace_back(name);
    }
  }
  crypto::ExtendedKeyUsagePtr eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  for (int i = 0; eku != nullptr && i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    const ASN1_OBJECT* obj = sk_ASN1_OBJECT_value(eku.get(), i);
    const int nid = OBJ_obj2nid(obj);
    if (nid != NID_undef) {
      info.extended_key_usage.emplace_back(OBJ_nid2sn(nid));
    } else {
      char oid[128];
      OBJ_obj2txt(oid, sizeof(oid), obj, /*no_name=*/1);
      info.extended_key_usage.emplace_back(oid);
    }
  }
  ERR_clear_error();
  return info;
}

absl::StatusOr<CrlInfo> InspectCrlPem(std::string_view pem, std::string_view source) {
  absl::StatusOr<std::vector<crypto::X509CrlPtr>> crls = ParseCrls(pem, source);
  if (!crls.ok()) return crls.status();
  X509_CRL* crl = crls->front().get();
  CrlInfo info;
  info.issuer = NameToString(X509_CRL_get_issuer(crl));
  absl::StatusOr<absl::Time> last = Asn1TimeToAbsl(X509_CRL_get0_lastUpdate(crl));
  if (!last.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": CRL has an invalid lastUpdate"));
  }
  info.last_update = *last;
  if (const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl); next != nullptr) {
    absl::StatusOr<absl::Time> t = Asn1TimeToAbsl(next);
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(source), ": CRL has an invalid nextUpdate"));
    }
    info.next_update = *t;
  }
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; revoked != nullptr && i < sk_X509_REVOKED_num(revoked); ++i) {
    crypto::BignumPtr bn(ASN1_INTEGER_to_BN(
        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i)), nullptr));
    if (!bn) continue;
    char* hex = BN_bn2hex(bn.get());
    info.revoked_serials.emplace_back(hex);
    OPENSSL_free(hex);
  }
  return info;
}

absl::StatusOr<std::string> CsrCommonName(std::string_view pem, std::string_view source) {
  absl::StatusOr<crypto::X509ReqPtr> csr = ParseCsr(pem, source);
  if (!csr.ok()) return csr.status();
  X509_NAME* name = X509_REQ_get_subject_name(csr->get());
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return std::string();
  return Asn1String(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
}

absl::StatusOr<CertificateInfo> InspectCertificatePem(std::string_view pem,
                                                      std::string_view source) {
  absl::StatusOr<std::vector<crypto::X509Ptr>> certs = ParseCertificates(pem, source);
  if (!certs.ok()) return certs.status();
  return DescribeCertificate(certs->front().get());
}

std::string NodeIdFromCertificate(const CertificateInfo& info, std::string_view trust_domain) {
  const std::string prefix = absl::StrCat("spiffe://", std::string(trust_domain), "/node/");
  for (const std::string& uri : info.uris) {
    if (absl::StartsWith(uri, prefix) && uri.size() > prefix.size()) {
      return uri.substr(prefix.size());
    }
  }
  return info.common_name;
}

bool CertificateNamesHost(X509* cert, const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    return X509_check_ip_asc(cert, host.c_str(), 0) == 1;
  }
  return X509_check_host(cert, host.data(), host.size(), 0, nullptr) == 1;
}

bool IsWildcardHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "*";
}

}  // namespace nodegate::pki
