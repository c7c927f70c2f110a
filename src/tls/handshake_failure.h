// Why a TLS handshake was refused, in words an operator can act on: the listener's side of
// "errors that say why". The Asio listeners (HTTPS console/gateway, XML-RPC) know the peer, the
// presented certificate and OpenSSL's error; the gRPC listener only gets gRPC's log lines (gRPC
// 1.51 runs the handshake itself and exposes no per-connection hook), plus what its own accept
// thread sees in a connection's first bytes.
#pragma once

#include <openssl/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace nodegate::tls {

enum class HandshakeReason {
  kRevoked,              // the client certificate is on the CRL
  kUnknownCa,            // it does not chain to the configured CA
  kExpired,              // it is expired or not yet valid
  kNoClientCertificate,  // none was presented where one is required
  kNoClientAuthUsage,    // its extended key usage lacks clientAuth
  kVerifyFailed,         // it did not verify, and gRPC did not say why
  kPlaintext,            // plain HTTP, h2c or other cleartext bytes on a TLS port
  kNoSharedProtocol,     // no common TLS version, cipher suite or ALPN protocol
  kPeerAlert,            // the client aborted the handshake (often: it does not trust our cert)
  kClosed,               // the peer closed the connection during the handshake
  kOther,
};

// The /metrics label ("revoked", "unknown_ca", …) and the words for the log.
std::string_view HandshakeReasonLabel(HandshakeReason reason);
std::string_view HandshakeReasonWords(HandshakeReason reason);

// X509_V_ERR_* of a failed client-certificate verification.
HandshakeReason ReasonFromVerifyError(long x509_error);
// An OpenSSL error code (ERR_get_error(), or the value of an Asio ssl error_code).
HandshakeReason ReasonFromSslError(unsigned long err);
// One of gRPC 1.51's handshake log lines: "Certificate verify failed with code 23" or "Handshake
// failed with fatal error SSL_ERROR_SSL: error:0A0000C7:SSL routines::…". nullopt for other lines.
// `verify_code` is set from the first kind so that the second (which only says "certificate verify
// failed") can be refined by the caller.
std::optional<HandshakeReason> ReasonFromGrpcLog(std::string_view line, long* verify_code);

// What a connection's first bytes are, to tell a TLS ClientHello from cleartext.
enum class FirstBytes { kTls, kHttp1, kH2cPreface, kOther };
FirstBytes ClassifyFirstBytes(std::string_view bytes);

// The answer nginx gives to plain HTTP on an HTTPS port: a complete HTTP/1.1 400 response whose
// body says "The plain HTTP request was sent to HTTPS port" (the connection closes after it).
std::string PlainHttpOnTlsPortResponse();

struct HandshakeFailure {
  HandshakeReason reason = HandshakeReason::kOther;
  std::string subject;  // of the presented client certificate (RFC 2253); empty when none
  std::string serial;   // uppercase hex
  std::string detail;   // OpenSSL's text
};

// Server contexts: remembers on each SSL the client certificate that failed verification (OpenSSL
// drops it), so that DescribeHandshakeFailure can name it. Keeps the context's verify mode.
void RecordRejectedCertificates(SSL_CTX* ctx);

// After a failed server-side handshake on `ssl` with OpenSSL error `err` (0 when the peer closed).
HandshakeFailure DescribeHandshakeFailure(const SSL* ssl, unsigned long err);

}  // namespace nodegate::tls
