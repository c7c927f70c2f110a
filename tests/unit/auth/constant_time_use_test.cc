// Secrets are compared in constant time (design §3): the token and app-key authenticators must
// route every comparison of secret-derived bytes through crypto::ConstantTimeEquals.
//
// How this is observed: a link-time seam. This file defines crypto::ConstantTimeEquals itself,
// with the same contract and the same implementation (CRYPTO_memcmp), plus a record of each call.
// The test binary's own definition is linked before libnodegate_crypto.a is searched, so the
// library's copy is never pulled in and the authorizer calls this one. (constant_time.cc defines
// nothing else; should it ever, the link fails loudly with a duplicate symbol rather than
// silently.) The real function's own tests are in tests/unit/crypto/constant_time_test.cc.
#include <openssl/crypto.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "auth/authorizer.h"
#include "crypto/constant_time.h"
#include "crypto/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/auth.h"

namespace {

std::mutex g_mu;
std::vector<std::pair<std::string, std::string>> g_calls;

}  // namespace

namespace nodegate::crypto {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_calls.emplace_back(a, b);
  }
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace nodegate::crypto

namespace nodegate::auth {
namespace {

using ::nodegate::testlib::App;
using ::nodegate::testlib::Harness;
using ::nodegate::testlib::Md;
using ::nodegate::testlib::Token;
using ::testing::Contains;
using ::testing::Pair;

class ConstantTimeUseTest : public ::testing::Test {
 protected:
  ConstantTimeUseTest() : h_(Credentials()) { Calls(); }
  static CredentialSnapshot Credentials() {
    CredentialSnapshot s;
    s.tokens.emplace(crypto::Sha256("tok"), Token("tok", "alice"));
    s.apps.emplace("billing", App("sec", "billing-svc"));
    return s;
  }
  // The calls since the last look.
  static std::vector<std::pair<std::string, std::string>> Calls() {
    std::lock_guard<std::mutex> lock(g_mu);
    return std::exchange(g_calls, {});
  }
  Harness h_;
};

TEST_F(ConstantTimeUseTest, TokenHashIsComparedInConstantTime) {
  ASSERT_TRUE(h_.Authorize(Md().Add("access-token", "tok")).status.ok());
  EXPECT_THAT(Calls(), Contains(Pair(crypto::Sha256("tok"), crypto::Sha256("tok"))));
}

TEST_F(ConstantTimeUseTest, AppSecretHashIsComparedInConstantTime) {
  ASSERT_TRUE(h_.Authorize(Md().Add("app-key", "billing").Add("app-secret", "sec")).status.ok());
  EXPECT_THAT(Calls(), Contains(Pair(crypto::Sha256("sec"), crypto::Sha256("sec"))));
}

TEST_F(ConstantTimeUseTest, WrongAppSecretIsRefusedByTheConstantTimeCompare) {
  ASSERT_EQ(h_.Authorize(Md().Add("app-key", "billing").Add("app-secret", "sez")).rejection,
            Rejection::kAppKeyInvalid);
  EXPECT_THAT(Calls(), Contains(Pair(crypto::Sha256("sec"), crypto::Sha256("sez"))));
}

TEST_F(ConstantTimeUseTest, TheTwoTokenHeadersAreComparedInConstantTime) {
  ASSERT_EQ(
      h_.Authorize(Md().Add("authorization", "Bearer tok").Add("access-token", "tol")).rejection,
      Rejection::kMalformed);
  EXPECT_THAT(Calls(), Contains(Pair("tok", "tol")));
}

}  // namespace
}  // namespace nodegate::auth
