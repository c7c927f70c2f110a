#include "pki/certificate_authority.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "crypto/openssl_error.h"
#include "crypto/random.h"
#include "pki/pem.h"

namespace nodegate::pki {
namespace {

using crypto::OpenSslError;

// Ed25519 signs without a separate digest; every other CA key signs with SHA-256.
const EVP_MD* DigestFor(EVP_PKEY* signing_key) {
  return EVP_PKEY_is_a(signing_key, "ED25519") ? nullptr : EVP_sha256();
}

bool IsIpAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  crypto::X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(absl::StrCat("adding extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status SetName(X509_NAME* name, const std::string& cn) {
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("nodegate"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return OpenSslError("setting subject name");
  }
  return absl::OkStatus();
}

absl::Status SetValidity(X509* cert, absl::Time not_before, absl::Time not_after) {
  if (not_after <= not_before) {
    return absl::InvalidArgumentError("validity: not_after must be later than not_before");
  }
  if (ASN1_TIME_set(X509_getm_notBefore(cert), absl::ToTimeT(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), absl::ToTimeT(not_after)) == nullptr) {
    return OpenSslError("setting validity");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SanList(const IssueOptions& o) {
  std::vector<std::string> parts;
  for (const std::string& raw : o.sans) {
    std::string san(absl::StripAsciiWhitespace(raw));
    if (san.empty()) continue;
    if (san.find_first_of(",\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("san '", san, "' contains a separator"));
    }
    if (IsIpAddress(san)) {
      parts.push_back(absl::StrCat("IP:", san));
    } else if (san.find("://") != std::string::npos) {
      parts.push_back(absl::StrCat("URI:", san));
    } else {
      parts.push_back(absl::StrCat("DNS:", san));
    }
  }
  if (!o.node_id.empty()) {
    parts.push_back(absl::StrCat("URI:spiffe://", o.trust_domain, "/node/", o.node_id));
  }
  return absl::StrJoin(parts, ",");
}

// RFC 5280 ub-common-name.
constexpr size_t kMaxCommonName = 64;

bool ValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<crypto::Asn1IntegerPtr> RandomSerial() {
  absl::StatusOr<std::string> bytes = crypto::RandomBytes(16);
  if (!bytes.ok()) return bytes.status();
  (*bytes)[0] = static_cast<char>((*bytes)[0] & 0x7f);  // positive
  if ((*bytes)[0] == 0) (*bytes)[0] = 0x01;             // and a full 128 bits long
  crypto::BignumPtr bn(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes->data()), 16, nullptr));
  if (!bn) return OpenSslError("serial: BN_bin2bn");
  crypto::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return OpenSslError("serial: BN_to_ASN1_INTEGER");
  return serial;
}

absl::StatusOr<std::string> MakeCsr(EVP_PKEY* key, const std::string& common_name) {
  crypto::X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1) return OpenSslError("creating CSR");
  if (absl::Status s = SetName(X509_REQ_get_subject_name(req.get()), common_name); !s.ok()) {
    return s;
  }
  if (X509_REQ_set_pubkey(req.get(), key) != 1 ||
      X509_REQ_sign(req.get(), key, DigestFor(key)) <= 0) {
    return OpenSslError("signing CSR");
  }
  return CsrToPem(req.get());
}

absl::StatusOr<PemPair> CertificateAuthority::Create(const CaOptions& options) {
  if (options.common_name.empty()) return absl::InvalidArgumentError("CA common name is empty");
  absl::StatusOr<crypto::EvpPkeyPtr> key = GenerateKey(options.key_type);
  if (!key.ok()) return key.status();
  crypto::X509Ptr cert(X509_new());
  absl::StatusOr<crypto::Asn1IntegerPtr> serial = RandomSerial();
  if (!serial.ok()) return serial.status();
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial->get()) != 1) {
    return OpenSslError("creating CA certificate");
  }
  absl::Time now = absl::Now();
  if (absl::Status s = SetValidity(cert.get(), now - absl::Minutes(5), now + options.validity);
      !s.ok())
    return s;
  if (absl::Status s = SetName(X509_get_subject_name(cert.get()), options.common_name); !s.ok())
    return s;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1 ||
      X509_set_pubkey(cert.get(), key->get()) != 1) {
    return OpenSslError("creating CA certificate");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] :
       std::vector<std::pair<int, std::string>>{{NID_basic_constraints, "critical,CA:TRUE"},
                                                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                                {NID_subject_key_identifier, "hash"},
                                                {NID_authority_key_identifier, "keyid:always"}}) {
    if (absl::Status s = AddExtension(cert.get(), &ctx, nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert.get(), key->get(), DigestFor(key->get())) <= 0) {
    return OpenSslError("signing CA certificate");
  }
  absl::StatusOr<std::string> cert_pem = CertificateToPem(cert.get());
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = PrivateKeyToPem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  return PemPair{*std::move(cert_pem), *std::move(key_pem)};
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Load(
    std::string_view cert_pem, std::string_view key_pem) {
  absl::StatusOr<std::vector<crypto::X509Ptr>> certs =
      ParseCertificates(cert_pem, "CA certificate");
  if (!certs.ok()) return certs.status();
  absl::StatusOr<crypto::EvpPkeyPtr> key = ParsePrivateKey(key_pem, "CA key");
  if (!key.ok()) return key.status();
  crypto::X509Ptr cert = std::move(certs->front());
  if (X509_check_ca(cert.get()) == 0) {
    return absl::InvalidArgumentError(
        "CA certificate: not a CA (basicConstraints CA:TRUE missing)");
  }
  if (X509_check_private_key(cert.get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("CA key does not match the CA certificate");
  }
  return std::unique_ptr<CertificateAuthority>(
      new CertificateAuthority(std::move(cert), *std::move(key), std::string(cert_pem)));
}

absl::StatusOr<std::string> CertificateAuthority::IssueFor(EVP_PKEY* subject_key,
                                                           const IssueOptions& o) const {
  if (o.common_name.empty()) return absl::InvalidArgumentError("common name is empty");
  if (o.common_name.size() > kMaxCommonName) {
    // OpenSSL would fail later with an opaque "string too long"; a node id may be 128 long, but
    // it belongs in the URI SAN, which has no such limit.
    return absl::InvalidArgumentError(absl::StrCat("common name is ", o.common_name.size(),
                                                   " characters; at most ", kMaxCommonName));
  }
  if (!o.server && !o.client) {
    return absl::InvalidArgumentError("a certificate must be for a server, a client, or both");
  }
  if (!o.node_id.empty() && !ValidNodeId(o.node_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("node id '", o.node_id, "' is not [A-Za-z0-9._-]{1,128}"));
  }
  absl::StatusOr<std::string> sans = SanList(o);
  if (!sans.ok()) return sans.status();

  crypto::X509Ptr cert(X509_new());
  absl::StatusOr<crypto::Asn1IntegerPtr> serial = RandomSerial();
  if (!serial.ok()) return serial.status();
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial->get()) != 1) {
    return OpenSslError("creating certificate");
  }
  absl::Time not_before =
      o.not_before == absl::InfinitePast() ? absl::Now() - absl::Minutes(5) : o.not_before;
  absl::Time not_after =
      o.not_after == absl::InfinitePast() ? not_before + o.validity : o.not_after;
  if (absl::Status s = SetValidity(cert.get(), not_before, not_after); !s.ok()) return s;
  if (absl::Status s = SetName(X509_get_subject_name(cert.get()), o.common_name); !s.ok()) return s;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.get())) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return OpenSslError("creating certificate");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert_.get(), cert.get(), nullptr, nullptr, 0);
  std::vector<std::string> eku;
  if (o.server) eku.push_back("serverAuth");
  if (o.client) eku.push_back("clientAuth");
  std::string key_usage = EVP_PKEY_is_a(subject_key, "RSA")
                              ? "critical,digitalSignature,keyEncipherment"
                              : "critical,digitalSignature";
  std::vector<std::pair<int, std::string>> exts = {{NID_basic_constraints, "critical,CA:FALSE"},
                                                   {NID_key_usage, key_usage},
                                                   {NID_ext_key_usage, absl::StrJoin(eku, ",")},
                                                   {NID_subject_key_identifier, "hash"},
                                                   {NID_authority_key_identifier, "keyid:always"}};
  if (!sans->empty()) exts.push_back({NID_subject_alt_name, *sans});
  for (const auto& [nid, value] : exts) {
    if (absl::Status s = AddExtension(cert.get(), &ctx, nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert.get(), key_.get(), DigestFor(key_.get())) <= 0) {
    return OpenSslError("signing certificate");
  }
  return CertificateToPem(cert.get());
}

absl::StatusOr<PemPair> CertificateAuthority::Issue(const IssueOptions& options) const {
  absl::StatusOr<crypto::EvpPkeyPtr> key = GenerateKey(options.key_type);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> cert = IssueFor(key->get(), options);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key_pem = PrivateKeyToPem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  return PemPair{*std::move(cert), *std::move(key_pem)};
}

absl::StatusOr<std::string> CertificateAuthority::SignCsr(std::string_view csr_pem,
                                                          const IssueOptions& options) const {
  absl::StatusOr<crypto::X509ReqPtr> csr = ParseCsr(csr_pem, "CSR");
  if (!csr.ok()) return csr.status();
  EVP_PKEY* pub = X509_REQ_get0_pubkey(csr->get());
  if (pub == nullptr || X509_REQ_verify(csr->get(), pub) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("CSR: signature does not verify with its own public key");
  }
  return IssueFor(pub, options);
}

absl::Status CertificateAuthority::CheckIssued(std::string_view cert_pem,
                                               std::string_view source) const {
  absl::StatusOr<std::vector<crypto::X509Ptr>> certs = ParseCertificates(cert_pem, source);
  if (!certs.ok()) return certs.status();
  X509* cert = certs->front().get();
  bool ok = X509_check_issued(cert_.get(), cert) == X509_V_OK &&
            X509_verify(cert, X509_get0_pubkey(cert_.get())) == 1;
  ERR_clear_error();
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": not issued by this CA"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CertificateAuthority::MakeCrl(
    const std::vector<std::string>& revoked_serials_hex, absl::Duration validity) const {
  if (validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CRL validity must be positive (got ", absl::FormatDuration(validity),
                     "): a CRL past its nextUpdate makes the node refuse every client of the CA"));
  }
  crypto::X509CrlPtr crl(X509_CRL_new());
  if (!crl || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(cert_.get())) != 1) {
    return OpenSslError("creating CRL");
  }
  absl::Time now = absl::Now();
  crypto::Asn1TimePtr last(ASN1_TIME_set(nullptr, absl::ToTimeT(now - absl::Minutes(1))));
  crypto::Asn1TimePtr next(ASN1_TIME_set(nullptr, absl::ToTimeT(now + validity)));
  if (!last || !next || X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    return OpenSslError("setting CRL validity");
  }
  for (const std::string& hex : revoked_serials_hex) {
    BIGNUM* raw = nullptr;
    // BN_hex2bn returns how many characters it consumed: it stops at the first non-hex one
    // ("12XY" would revoke serial 0x12) and accepts a leading '-' (a negative serial).
    const int consumed = BN_hex2bn(&raw, hex.c_str());
    crypto::BignumPtr bn(raw);
    if (consumed == 0 || static_cast<size_t>(consumed) != hex.size() || BN_is_negative(bn.get())) {
      return absl::InvalidArgumentError(absl::StrCat("revoked serial '", hex, "' is not hex"));
    }
    crypto::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    crypto::X509RevokedPtr rev(X509_REVOKED_new());
    if (!serial || !rev || X509_REVOKED_set_serialNumber(rev.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(rev.get(), last.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), rev.get()) != 1) {
      return OpenSslError("adding revoked serial");
    }
    static_cast<void>(rev.release());  // owned by the CRL now
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert_.get(), nullptr, nullptr, crl.get(), 0);
  crypto::X509ExtensionPtr aki(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!aki || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return OpenSslError("adding CRL authorityKeyIdentifier");
  }
  if (X509_CRL_sort(crl.get()) != 1 ||
      X509_CRL_sign(crl.get(), key_.get(), DigestFor(key_.get())) <= 0) {
    return OpenSslError("signing CRL");
  }
  return CrlToPem(crl.get());
}

}  // namespace nodegate::pki
