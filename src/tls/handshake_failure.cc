#include "tls/handshake_failure.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pki/certificate_info.h"

namespace nodegate::tls {
namespace {

// What the verify callback saw on the first certificate that failed (OpenSSL keeps no peer
// certificate on a handshake that failed verification).
struct Rejected {
  std::string subject;
  std::string serial;
  long error = X509_V_OK;
};

void FreeRejected(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                  void* /*argp*/) {
  delete static_cast<Rejected*>(ptr);
}

int RejectedIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeRejected);
  return index;
}

int RecordingVerifyCallback(int ok, X509_STORE_CTX* store) {
  if (ok == 1) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr || SSL_get_ex_data(ssl, RejectedIndex()) != nullptr) return ok;
  auto* r = new Rejected;
  r->error = X509_STORE_CTX_get_error(store);
  // The leaf, not the chain element that failed: the operator looks for the client's certificate.
  if (X509* leaf = X509_STORE_CTX_get0_cert(store); leaf != nullptr) {
    if (absl::StatusOr<pki::CertificateInfo> info = pki::DescribeCertificate(leaf); info.ok()) {
      r->subject = info->subject;
      r->serial = info->serial_hex;
    }
  }
  if (SSL_set_ex_data(ssl, RejectedIndex(), r) != 1) delete r;
  return ok;
}

}  // namespace

std::string_view HandshakeReasonLabel(HandshakeReason reason) {
  switch (reason) {
    case HandshakeReason::kRevoked:
      return "revoked";
    case HandshakeReason::kUnknownCa:
      return "unknown_ca";
    case HandshakeReason::kExpired:
      return "expired";
    case HandshakeReason::kNoClientCertificate:
      return "no_client_certificate";
    case HandshakeReason::kNoClientAuthUsage:
      return "no_client_auth_usage";
    case HandshakeReason::kVerifyFailed:
      return "verify_failed";
    case HandshakeReason::kPlaintext:
      return "plaintext";
    case HandshakeReason::kNoSharedProtocol:
      return "no_shared_protocol";
    case HandshakeReason::kPeerAlert:
      return "peer_alert";
    case HandshakeReason::kClosed:
      return "closed";
    case HandshakeReason::kOther:
      return "other";
  }
  return "other";
}

std::string_view HandshakeReasonWords(HandshakeReason reason) {
  switch (reason) {
    case HandshakeReason::kRevoked:
      return "client certificate revoked";
    case HandshakeReason::kUnknownCa:
      return "client certificate from an unknown CA";
    case HandshakeReason::kExpired:
      return "client certificate expired or not yet valid";
    case HandshakeReason::kNoClientCertificate:
      return "no client certificate";
    case HandshakeReason::kNoClientAuthUsage:
      return "client certificate lacks the clientAuth extended key usage";
    case HandshakeReason::kVerifyFailed:
      return "client certificate did not verify (revoked, expired, from an unknown CA or without "
             "clientAuth)";
    case HandshakeReason::kPlaintext:
      return "plaintext on a TLS port";
    case HandshakeReason::kNoSharedProtocol:
      return "no shared TLS version, cipher or ALPN protocol";
    case HandshakeReason::kPeerAlert:
      return "the client aborted the handshake (it may not trust this node's certificate)";
    case HandshakeReason::kClosed:
      return "the peer closed the connection during the handshake";
    case HandshakeReason::kOther:
      return "handshake failed";
  }
  return "handshake failed";
}

HandshakeReason ReasonFromVerifyError(long x509_error) {
  switch (x509_error) {
    case X509_V_ERR_CERT_REVOKED:
      return HandshakeReason::kRevoked;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return HandshakeReason::kExpired;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return HandshakeReason::kUnknownCa;
    case X509_V_ERR_INVALID_PURPOSE:
      return HandshakeReason::kNoClientAuthUsage;
    default:
      return HandshakeReason::kVerifyFailed;
  }
}

HandshakeReason ReasonFromSslError(unsigned long err) {
  if (err == 0) return HandshakeReason::kClosed;
  if (ERR_GET_LIB(err) != ERR_LIB_SSL) return HandshakeReason::kOther;
  const int reason = ERR_GET_REASON(err);
  switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return HandshakeReason::kNoClientCertificate;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return HandshakeReason::kVerifyFailed;
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
      return HandshakeReason::kPlaintext;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
      return HandshakeReason::kNoSharedProtocol;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return HandshakeReason::kClosed;
    default:
      break;
  }
  if (reason > SSL_AD_REASON_OFFSET) return HandshakeReason::kPeerAlert;
  return HandshakeReason::kOther;
}

std::optional<HandshakeReason> ReasonFromGrpcLog(std::string_view line, long* verify_code) {
  constexpr std::string_view kVerify = "Certificate verify failed with code ";
  if (size_t at = line.find(kVerify); at != std::string_view::npos) {
    long code = 0;
    std::string_view digits = line.substr(at + kVerify.size());
    size_t n = 0;
    while (n < digits.size() && absl::ascii_isdigit(static_cast<unsigned char>(digits[n]))) ++n;
    if (absl::SimpleAtoi(std::string(digits.substr(0, n)), &code) && verify_code != nullptr) {
      *verify_code = code;
    }
    return std::nullopt;
  }
  if ((line.find("missing selected ALPN property") != std::string_view::npos)) {
    return HandshakeReason::kNoSharedProtocol;
  }
  if (!(line.find("Handshake failed") != std::string_view::npos)) return std::nullopt;
  // "… SSL_ERROR_SSL: error:0A0000C7:SSL routines::peer did not return a certificate."
  constexpr std::string_view kError = "error:";
  if (size_t at = line.find(kError);
      at != std::string_view::npos && at + kError.size() + 8 <= line.size()) {
    const std::string hex(line.substr(at + kError.size(), 8));
    char* end = nullptr;
    const unsigned long err = std::strtoul(hex.c_str(), &end, 16);
    if (end == hex.c_str() + hex.size()) {
      HandshakeReason r = ReasonFromSslError(err);
      if (r == HandshakeReason::kVerifyFailed && verify_code != nullptr &&
          *verify_code != X509_V_OK) {
        r = ReasonFromVerifyError(*verify_code);
      }
      return r;
    }
  }
  if ((line.find("SSL_ERROR_SYSCALL") != std::string_view::npos) ||
      (line.find("SSL_ERROR_ZERO") != std::string_view::npos)) {
    return HandshakeReason::kClosed;
  }
  return HandshakeReason::kOther;
}

FirstBytes ClassifyFirstBytes(std::string_view b) {
  if (b.empty()) return FirstBytes::kOther;
  const auto c0 = static_cast<unsigned char>(b[0]);
  if (c0 == 0x16) return FirstBytes::kTls;                                   // handshake record
  if (c0 == 0x80 && b.size() >= 3 && b[2] == 0x01) return FirstBytes::kTls;  // SSLv2-style hello
  if (b.starts_with("PRI ")) return FirstBytes::kH2cPreface;
  size_t n = 0;
  while (n < b.size() && n < 16 && absl::ascii_isupper(static_cast<unsigned char>(b[n]))) ++n;
  if (n >= 3 && (n == b.size() || b[n] == ' ')) return FirstBytes::kHttp1;
  return FirstBytes::kOther;
}

std::string PlainHttpOnTlsPortResponse() {
  static constexpr std::string_view kBody =
      "<html>\r\n"
      "<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n"
      "<body>\r\n"
      "<center><h1>400 Bad Request</h1></center>\r\n"
      "<center>The plain HTTP request was sent to HTTPS port</center>\r\n"
      "<hr><center>nodegate</center>\r\n"
      "</body>\r\n"
      "</html>\r\n";
  return absl::StrCat("HTTP/1.1 400 Bad Request\r\nServer: nodegate\r\n",
                      "Content-Type: text/html\r\nContent-Length: ", kBody.size(),
                      "\r\nConnection: close\r\n\r\n", std::string(kBody));
}

void RecordRejectedCertificates(SSL_CTX* ctx) {
  (void)RejectedIndex();  // allocate the index before any handshake thread needs it
  SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), RecordingVerifyCallback);
}

HandshakeFailure DescribeHandshakeFailure(const SSL* ssl, unsigned long err) {
  HandshakeFailure f;
  f.reason = ReasonFromSslError(err);
  if (err != 0) {
    char text[256];
    ERR_error_string_n(err, text, sizeof(text));
    f.detail = text;
  }
  if (ssl == nullptr) return f;
  if (const auto* r = static_cast<const Rejected*>(SSL_get_ex_data(ssl, RejectedIndex()));
      r != nullptr) {
    f.reason = ReasonFromVerifyError(r->error);
    f.subject = r->subject;
    f.serial = r->serial;
    f.detail = X509_verify_cert_error_string(r->error);
  }
  return f;
}

}  // namespace nodegate::tls
