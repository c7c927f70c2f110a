// tls::handshake_failure: a refused handshake classified into words, from OpenSSL's errors, from
// gRPC 1.51's log lines, and from a real handshake against the node's server context.
#include "tls/handshake_failure.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/match.h"
#include "pki/pem.h"
#include "testlib/pki.h"
#include "tls/ssl_context.h"

namespace nodegate::tls {
namespace {

using ::nodegate::testlib::TestCa;

TEST(HandshakeReasonTest, VerifyErrorsSayWhichProblem) {
  EXPECT_EQ(ReasonFromVerifyError(X509_V_ERR_CERT_REVOKED), HandshakeReason::kRevoked);
  EXPECT_EQ(ReasonFromVerifyError(X509_V_ERR_CERT_HAS_EXPIRED), HandshakeReason::kExpired);
  EXPECT_EQ(ReasonFromVerifyError(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
            HandshakeReason::kUnknownCa);
  EXPECT_EQ(ReasonFromVerifyError(X509_V_ERR_INVALID_PURPOSE), HandshakeReason::kNoClientAuthUsage);
  EXPECT_EQ(ReasonFromVerifyError(X509_V_ERR_UNABLE_TO_GET_CRL), HandshakeReason::kVerifyFailed);
}

TEST(HandshakeReasonTest, SslErrorsSayWhichProblem) {
  auto ssl = [](int reason) { return ERR_PACK(ERR_LIB_SSL, 0, reason); };
  EXPECT_EQ(ReasonFromSslError(ssl(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)),
            HandshakeReason::kNoClientCertificate);
  EXPECT_EQ(ReasonFromSslError(ssl(SSL_R_HTTP_REQUEST)), HandshakeReason::kPlaintext);
  EXPECT_EQ(ReasonFromSslError(ssl(SSL_R_WRONG_VERSION_NUMBER)), HandshakeReason::kPlaintext);
  EXPECT_EQ(ReasonFromSslError(ssl(SSL_R_NO_APPLICATION_PROTOCOL)),
            HandshakeReason::kNoSharedProtocol);
  EXPECT_EQ(ReasonFromSslError(ssl(SSL_R_UNSUPPORTED_PROTOCOL)),
            HandshakeReason::kNoSharedProtocol);
  EXPECT_EQ(ReasonFromSslError(ssl(SSL_AD_REASON_OFFSET + SSL_AD_UNKNOWN_CA)),
            HandshakeReason::kPeerAlert);
  EXPECT_EQ(ReasonFromSslError(0), HandshakeReason::kClosed);
  EXPECT_EQ(HandshakeReasonLabel(HandshakeReason::kNoClientAuthUsage), "no_client_auth_usage");
}

// The lines gRPC 1.51 writes (facts/grpc-1.51-on-debian12.md §2–3).
TEST(HandshakeReasonTest, ReadsGrpcLogLines) {
  long code = 0;
  EXPECT_EQ(ReasonFromGrpcLog("Handshake failed with fatal error SSL_ERROR_SSL: "
                              "error:0A0000C7:SSL routines::peer did not return a certificate.",
                              &code),
            HandshakeReason::kNoClientCertificate);
  EXPECT_EQ(ReasonFromGrpcLog("Certificate verify failed with code 23", &code), std::nullopt);
  EXPECT_EQ(code, 23);
  EXPECT_EQ(ReasonFromGrpcLog("Handshake failed with fatal error SSL_ERROR_SSL: "
                              "error:0A000086:SSL routines::certificate verify failed.",
                              &code),
            HandshakeReason::kRevoked);
  long none = 0;
  EXPECT_EQ(ReasonFromGrpcLog("Handshake failed with fatal error SSL_ERROR_SSL: "
                              "error:0A000086:SSL routines::certificate verify failed.",
                              &none),
            HandshakeReason::kVerifyFailed);
  EXPECT_EQ(ReasonFromGrpcLog("Handshake failed with fatal error SSL_ERROR_SSL: "
                              "error:0A00009C:SSL routines::http request.",
                              &none),
            HandshakeReason::kPlaintext);
  EXPECT_EQ(ReasonFromGrpcLog("Cannot check peer: missing selected ALPN property.", &none),
            HandshakeReason::kNoSharedProtocol);
  EXPECT_EQ(ReasonFromGrpcLog("Server shutdown requested", &none), std::nullopt);
}

TEST(FirstBytesTest, TellsTlsFromCleartext) {
  EXPECT_EQ(ClassifyFirstBytes(std::string("\x16\x03\x01\x02\x00", 5)), FirstBytes::kTls);
  EXPECT_EQ(ClassifyFirstBytes("GET / HTTP/1.1\r\n"), FirstBytes::kHttp1);
  EXPECT_EQ(ClassifyFirstBytes("POST /x HTTP/1.1"), FirstBytes::kHttp1);
  EXPECT_EQ(ClassifyFirstBytes("PRI * HTTP/2.0\r\n"), FirstBytes::kH2cPreface);
  EXPECT_EQ(ClassifyFirstBytes("GE"), FirstBytes::kOther);
  EXPECT_EQ(ClassifyFirstBytes("hello"), FirstBytes::kOther);
  EXPECT_EQ(ClassifyFirstBytes(""), FirstBytes::kOther);
}

TEST(FirstBytesTest, PlainHttpAnswerIsNginxs400WithAnExactLength) {
  const std::string r = PlainHttpOnTlsPortResponse();
  ASSERT_TRUE(absl::StartsWith(r, "HTTP/1.1 400 Bad Request\r\n")) << r;
  const size_t body = r.find("\r\n\r\n") + 4;
  EXPECT_NE(r.find("The plain HTTP request was sent to HTTPS port", body), std::string::npos);
  EXPECT_NE(r.find(absl::StrCat("Content-Length: ", r.size() - body, "\r\n")), std::string::npos)
      << r;
}

// A real handshake over a socketpair: server context as the node builds it (client certificate
// required, CRL), client with `client` (or none).
HandshakeFailure Handshake(const TestCa& ca, const std::string& crl, const pki::PemPair* client,
                           const TestCa& client_ca) {
  CredentialSet set = *::nodegate::testlib::MakeCredentialSet(ca.IssueServer(), ca.cert_pem());
  set.crl_pem = crl;
  auto server_ctx = BuildSslContext(set, TlsRole::kServer, ClientAuth::kRequire);
  EXPECT_TRUE(server_ctx.ok()) << server_ctx.status();
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::thread peer([&] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    if (client != nullptr) {
      auto certs = pki::ParseCertificates(client->cert_pem, "client");
      auto key = pki::ParsePrivateKey(client->key_pem, "client");
      SSL_CTX_use_certificate(c, certs->front().get());
      SSL_CTX_use_PrivateKey(c, key->get());
    }
    (void)client_ca;
    SSL* s = SSL_new(c);
    SSL_set_fd(s, fds[1]);
    if (SSL_connect(s) == 1) {
      char b;
      (void)SSL_read(s, &b, 1);  // TLS 1.3: the server's verdict arrives here
    }
    SSL_free(s);
    SSL_CTX_free(c);
    close(fds[1]);
  });
  SSL* s = SSL_new((*server_ctx)->native_handle());
  SSL_set_fd(s, fds[0]);
  ERR_clear_error();
  const int rc = SSL_accept(s);
  EXPECT_NE(rc, 1);
  const unsigned long err = ERR_peek_last_error();
  HandshakeFailure f = DescribeHandshakeFailure(s, err);
  ERR_clear_error();
  SSL_shutdown(s);
  close(fds[0]);
  peer.join();
  SSL_free(s);
  return f;
}

TEST(DescribeHandshakeFailureTest, NamesARevokedCertificateBySubjectAndSerial) {
  TestCa ca("Describe CA");
  pki::PemPair alice = ca.IssueClient("alice");
  const std::string serial = ::nodegate::testlib::SerialOf(alice.cert_pem);
  HandshakeFailure f = Handshake(ca, ca.Crl({serial}), &alice, ca);
  EXPECT_EQ(f.reason, HandshakeReason::kRevoked) << f.detail;
  EXPECT_EQ(f.serial, serial);
  EXPECT_NE(f.subject.find("CN=alice"), std::string::npos) << f.subject;
}

TEST(DescribeHandshakeFailureTest, CertificateFromAnotherCaIsUnknownCa) {
  TestCa ca("Describe CA");
  TestCa other("Other CA");
  pki::PemPair stranger = other.IssueClient("stranger");
  HandshakeFailure f = Handshake(ca, "", &stranger, other);
  EXPECT_EQ(f.reason, HandshakeReason::kUnknownCa) << f.detail;
  EXPECT_NE(f.subject.find("CN=stranger"), std::string::npos) << f.subject;
}

TEST(DescribeHandshakeFailureTest, ServerOnlyCertificateLacksClientAuth) {
  TestCa ca("Describe CA");
  pki::PemPair server_only = ca.IssueServer();
  HandshakeFailure f = Handshake(ca, "", &server_only, ca);
  EXPECT_EQ(f.reason, HandshakeReason::kNoClientAuthUsage) << f.detail;
}

TEST(DescribeHandshakeFailureTest, NoCertificateIsSaid) {
  TestCa ca("Describe CA");
  HandshakeFailure f = Handshake(ca, "", nullptr, ca);
  EXPECT_EQ(f.reason, HandshakeReason::kNoClientCertificate) << f.detail;
  EXPECT_EQ(f.subject, "");
}

}  // namespace
}  // namespace nodegate::tls
