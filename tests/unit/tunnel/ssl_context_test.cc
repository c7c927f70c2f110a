#include "tls/ssl_context.h"

#include <gtest/gtest.h>

#include "base/files.h"
#include "testlib/pki.h"

namespace nodegate::tunnel {
namespace {

using tls::TlsContextSource;
using tls::TlsRole;

using ::nodegate::testlib::PkiDir;

TEST(TlsContextSourceTest, LoadsAValidSet) {
  PkiDir pki;
  TlsContextSource::Options o;
  o.files = pki.Issue("server", true);
  auto source = TlsContextSource::New(o);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_NE((*source)->context(), nullptr);
  EXPECT_EQ((*source)->credentials()->leaf.common_name, "server");
}

TEST(TlsContextSourceTest, RefusesAKeyThatDoesNotMatchAtStart) {
  PkiDir pki;
  TlsContextSource::Options o;
  o.files = pki.Issue("server", true);
  o.files.key = pki.Issue("other", true).key;
  auto source = TlsContextSource::New(o);
  ASSERT_FALSE(source.ok());
  EXPECT_NE(std::string(source.status().message()).find("tls.key"), std::string::npos)
      << source.status();
}

TEST(TlsContextSourceTest, ClientRoleNeedsACa) {
  PkiDir pki;
  TlsContextSource::Options o;
  o.files = pki.Issue("alice", false);
  o.files.ca.clear();
  o.role = TlsRole::kClient;
  auto source = TlsContextSource::New(o);
  EXPECT_FALSE(source.ok());
}

TEST(TlsContextSourceTest, UnchangedFilesKeepTheContext) {
  PkiDir pki;
  TlsContextSource::Options o;
  o.files = pki.Issue("server", true);
  auto source = *TlsContextSource::New(o);
  auto before = source->context();
  EXPECT_TRUE(source->Refresh().ok());
  EXPECT_TRUE(source->Refresh(/*force=*/true).ok());
  EXPECT_EQ(source->context(), before);
  EXPECT_EQ(source->reloads_ok(), 0u);
}

TEST(TlsContextSourceTest, RotatedCertificateGivesANewContextAndTheOldOneStaysUsable) {
  PkiDir pki;
  TlsContextSource::Options o;
  o.files = pki.Issue("server", true);
  auto source = *TlsContextSource::New(o);
  std::shared_ptr<boost::asio::ssl::context> old = source->context();
  std::string old_serial = source->credentials()->leaf.serial_hex;

  pki.Issue("server", true);  // same paths, new pair
  ASSERT_TRUE(source->Refresh(/*force=*/true).ok());

  EXPECT_NE(source->context(), old);
  EXPECT_NE(source->credentials()->leaf.serial_hex, old_serial);
  EXPECT_EQ(source->reloads_ok(), 1u);
  EXPECT_NE(SSL_CTX_get0_certificate(old->native_handle()), nullptr);  // held by open connections
}

TEST(TlsContextSourceTest, BrokenPairIsRefusedAndThePreviousContextKeepsServing) {
  PkiDir pki;
  TlsContextSource::Options o;
  o.files = pki.Issue("server", true);
  auto source = *TlsContextSource::New(o);
  auto before = source->context();

  // The key of another certificate, as when an operator has replaced only one of the two files.
  tls::TlsFiles other = pki.Issue("other", true);
  absl::StatusOr<std::string> other_key = base::ReadFile(other.key);
  ASSERT_TRUE(other_key.ok());
  pki.Write("server-key.pem", *other_key);
  absl::Status s = source->Refresh(/*force=*/true);

  EXPECT_FALSE(s.ok());
  EXPECT_EQ(source->context(), before);
  EXPECT_EQ(source->reloads_failed(), 1u);
}

}  // namespace
}  // namespace nodegate::tunnel
