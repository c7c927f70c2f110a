// tls::ProbeDial / ExplainDialProbe: a failed dial said as a sentence. The probes run against a
// one-connection OpenSSL (or plaintext) server on 127.0.0.1 in a thread, with real certificates.
#include "tls/dial_diagnosis.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "testlib/pki.h"
#include "tls/ssl_context.h"

namespace nodegate::tls {
namespace {

using Outcome = DialProbe::Outcome;
using ::nodegate::testlib::PkiDir;

// The test servers write with OpenSSL on sockets a probe may have closed already.
const bool kSigpipeIgnored = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();

// Listens on 127.0.0.1:0; Serve() answers one connection in a thread.
class OneShotServer {
 public:
  OneShotServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

  // TLS with `ctx` (client certificates required): reads, then answers with a few bytes.
  void ServeTls(const std::shared_ptr<boost::asio::ssl::context>& ctx) {
    thread_ = std::thread([this, ctx] {
      const int c = ::accept(fd_, nullptr, nullptr);
      SSL* ssl = SSL_new(ctx->native_handle());
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) {
        char buf[64];
        if (SSL_read(ssl, buf, sizeof(buf)) > 0) SSL_write(ssl, "ok", 2);
      }
      SSL_free(ssl);
      ::close(c);
    });
  }
  // Plaintext: answers whatever comes with an HTTP/1.1 400.
  void ServePlain() {
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      char buf[512];
      (void)::read(c, buf, sizeof(buf));
      const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      (void)::write(c, reply, sizeof(reply) - 1);
      ::close(c);
    });
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

std::shared_ptr<boost::asio::ssl::context> ServerContext(const PkiDir& pki, const TlsFiles& f) {
  absl::StatusOr<CredentialSet> set = LoadCredentialSet(f, absl::Now());
  EXPECT_TRUE(set.ok()) << set.status();
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> ctx =
      BuildSslContext(*set, TlsRole::kServer, ClientAuth::kRequire);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  (void)pki;
  return *ctx;
}

ClientTlsOptions Client(const std::string& target, const PkiDir& pki, const TlsFiles& client) {
  return ClientTlsOptions{target, pki.ca_path(), client.cert, client.key, ""};
}

TEST(DialDiagnosisTest, AcceptedDialSaysNothing) {
  PkiDir pki;
  TlsFiles server = pki.Issue("server", true);
  TlsFiles client = pki.Issue("client", false);
  OneShotServer s;
  s.ServeTls(ServerContext(pki, server));
  const ClientTlsOptions o = Client(s.target(), pki, client);
  DialProbe p = ProbeDial(o, absl::Seconds(5));
  EXPECT_EQ(p.outcome, Outcome::kAccepted) << p.detail;
  EXPECT_EQ(ExplainDialProbe(p, o), "");
}

TEST(DialDiagnosisTest, ServerCertificateWithoutTheDialledIpIsNamedWithTheFix) {
  PkiDir pki;
  pki::IssueOptions only_localhost;
  only_localhost.common_name = "localhost";
  only_localhost.server = true;
  only_localhost.sans = {"localhost"};
  pki::PemPair pair = pki.ca().Issue(only_localhost);
  pki.Write("named.pem", pair.cert_pem);
  pki.Write("named-key.pem", pair.key_pem);
  TlsFiles server{pki.Path("named.pem"), pki.Path("named-key.pem"), pki.ca_path(), ""};
  TlsFiles client = pki.Issue("client", false);
  OneShotServer s;
  s.ServeTls(ServerContext(pki, server));
  const ClientTlsOptions o = Client(s.target(), pki, client);
  DialProbe p = ProbeDial(o, absl::Seconds(5));
  ASSERT_EQ(p.outcome, Outcome::kNameMismatch) << p.detail;
  EXPECT_EQ(ExplainDialProbe(p, o),
            "the server's certificate does not name 127.0.0.1 (it names: localhost) — use "
            "--server-name localhost or reissue with --san 127.0.0.1");
}

TEST(DialDiagnosisTest, ClientCertificateFromAnotherCaIsRefusedByTheServer) {
  PkiDir pki;
  PkiDir other("another CA");
  TlsFiles server = pki.Issue("server", true);
  TlsFiles stranger = other.Issue("stranger", false);
  OneShotServer s;
  s.ServeTls(ServerContext(pki, server));
  ClientTlsOptions o{s.target(), pki.ca_path(), stranger.cert, stranger.key, ""};
  DialProbe p = ProbeDial(o, absl::Seconds(5));
  ASSERT_EQ(p.outcome, Outcome::kServerClosedHandshake) << p.detail;
  EXPECT_EQ(p.alert, "unknown CA");
  EXPECT_EQ(ExplainDialProbe(p, o),
            "the server closed the handshake (TLS alert: unknown CA): your certificate may be "
            "revoked, expired, from another CA or lack clientAuth — see the node's log");
}

TEST(DialDiagnosisTest, ServerFromAnotherCaIsUntrusted) {
  PkiDir pki;
  PkiDir other("another CA");
  TlsFiles server = other.Issue("server", true);
  TlsFiles client = pki.Issue("client", false);
  OneShotServer s;
  s.ServeTls(ServerContext(other, server));
  const ClientTlsOptions o = Client(s.target(), pki, client);
  DialProbe p = ProbeDial(o, absl::Seconds(5));
  ASSERT_EQ(p.outcome, Outcome::kServerUntrusted) << p.detail;
  EXPECT_NE(ExplainDialProbe(p, o).find("does not chain to your CA " + pki.ca_path()),
            std::string::npos)
      << ExplainDialProbe(p, o);
}

TEST(DialDiagnosisTest, ExpiredServerCertificateIsSaid) {
  PkiDir pki;
  TlsFiles client = pki.Issue("client", false);
  const absl::Time now = absl::Now();
  std::shared_ptr<const CredentialSet> expired = ::nodegate::testlib::MakeCredentialSet(
      pki.ca().IssueServer(now - absl::Hours(48), now - absl::Hours(24)), pki.ca().cert_pem());
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> ctx =
      BuildSslContext(*expired, TlsRole::kServer, ClientAuth::kRequire);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  OneShotServer s;
  s.ServeTls(*ctx);
  const ClientTlsOptions o = Client(s.target(), pki, client);
  DialProbe p = ProbeDial(o, absl::Seconds(5));
  ASSERT_EQ(p.outcome, Outcome::kServerExpired) << p.detail;
  EXPECT_NE(ExplainDialProbe(p, o).find("is outside its validity (certificate has expired) — the "
                                        "node must renew it"),
            std::string::npos)
      << ExplainDialProbe(p, o);
}

TEST(DialDiagnosisTest, PlaintextServerIsNotTls) {
  PkiDir pki;
  TlsFiles client = pki.Issue("client", false);
  OneShotServer s;
  s.ServePlain();
  const ClientTlsOptions o = Client(s.target(), pki, client);
  DialProbe p = ProbeDial(o, absl::Seconds(5));
  EXPECT_EQ(p.outcome, Outcome::kNotTls) << p.detail;
}

TEST(DialDiagnosisTest, ClosedPortSaysNothingListens) {
  PkiDir pki;
  std::string target;
  {
    OneShotServer s;  // bound, then closed: the port is free (and nothing listens)
    target = s.target();
  }
  ClientTlsOptions o{target, pki.ca_path(), "", "", ""};
  DialProbe p = ProbeDial(o, absl::Seconds(5));
  ASSERT_EQ(p.outcome, Outcome::kRefused) << p.detail;
  EXPECT_EQ(ExplainDialProbe(p, o), absl::StrCat("nothing listens on ", target,
                                                 " (connection refused) — is the node running, "
                                                 "and is this its grpc.listen address?"));
}

TEST(DialDiagnosisTest, ExplainsServerClosedHandshakeWithoutClientCertificate) {
  DialProbe p;
  p.outcome = Outcome::kServerClosedHandshake;
  ClientTlsOptions o{"127.0.0.1:1", "ca.pem", "", "", ""};
  EXPECT_EQ(ExplainDialProbe(p, o).rfind("the server closed the handshake: it probably requires "
                                         "a client certificate",
                                         0),
            0u);
}

TEST(DialDiagnosisTest, BadTargetIsSaid) {
  ClientTlsOptions o{"no-port", "ca.pem", "", "", ""};
  DialProbe p = ProbeDial(o, absl::Seconds(1));
  EXPECT_EQ(p.outcome, Outcome::kBadTarget);
  EXPECT_EQ(ExplainDialProbe(p, o), "the target 'no-port' is not HOST:PORT");
}

TEST(ClientIdentityTest, KeyOfAnotherCertificateIsSaidBeforeAnyConnection) {
  PkiDir pki;
  TlsFiles a = pki.Issue("a", false);
  TlsFiles b = pki.Issue("b", false);
  absl::Status s = CheckClientIdentity(ClientTlsOptions{"x:1", pki.ca_path(), a.cert, b.key, ""});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            absl::StrCat("client: the key ", b.key, " does not belong to the certificate ", a.cert,
                         " (give the key the certificate was issued for)"));
  EXPECT_TRUE(CheckClientIdentity(ClientTlsOptions{"x:1", pki.ca_path(), a.cert, a.key, ""}).ok());
}

TEST(ClientIdentityTest, NewChannelCredentialsRefusesAMismatchedPair) {
  PkiDir pki;
  TlsFiles a = pki.Issue("a", false);
  TlsFiles b = pki.Issue("b", false);
  auto creds = NewChannelCredentials(ClientTlsOptions{"x:1", pki.ca_path(), a.cert, b.key, ""});
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.status().message().find("does not belong to the certificate"),
            std::string_view::npos);
}

}  // namespace
}  // namespace nodegate::tls
