// The signature authenticator (wire format v1, design §3) as the Authorizer applies it.
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "auth/authorizer.h"
#include "auth/signature_v1.h"
#include "crypto/digest.h"
#include "crypto/encoding.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/auth.h"
#include "testlib/keys.h"

namespace nodegate::auth {
namespace {

using crypto::Algorithm;
using ::nodegate::testlib::CertPeer;
using ::nodegate::testlib::Harness;
using ::nodegate::testlib::kAudience;
using ::nodegate::testlib::kMethod;
using ::nodegate::testlib::kNow;
using ::nodegate::testlib::Md;
using ::nodegate::testlib::Node;
using ::nodegate::testlib::SignCall;
using ::nodegate::testlib::SignedCall;
using ::nodegate::testlib::SignerFor;
using ::nodegate::testlib::VerifierFor;
using ::testing::ElementsAre;

CredentialSnapshot OneNode(const NodeCredential& node) {
  CredentialSnapshot s;
  std::string id = node.id;
  s.nodes.emplace(id, node);
  return s;
}

void ExpectRefused(const Decision& d, grpc::StatusCode code, std::string_view message,
                   Rejection why) {
  EXPECT_EQ(d.status.error_code(), code) << d.status.error_message();
  EXPECT_EQ(d.status.error_message(), message);
  EXPECT_EQ(d.rejection, why) << RejectionName(d.rejection);
  EXPECT_FALSE(d.principal.authenticated());
}

// Each algorithm.

class SignatureAlgorithmTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(SignatureAlgorithmTest, AllowsACallSignedPerTheWireFormat) {
  Harness h(OneNode(Node("node-a", GetParam(), {"worker", "ops"})));
  SignedCall call = SignCall(*SignerFor(GetParam()), "node-a");

  Decision d = h.Authorize(call.ToMd());

  ASSERT_TRUE(d.status.ok()) << d.status.error_message() << " / " << d.detail;
  EXPECT_EQ(d.rejection, Rejection::kCount);
  EXPECT_EQ(d.principal.ToString(), "node:node-a");
  EXPECT_EQ(d.principal.kind, Principal::Kind::kNode);
  EXPECT_THAT(d.principal.roles, ElementsAre("worker", "ops"));
  EXPECT_EQ(d.principal.authenticators, kSignature);
}

TEST_P(SignatureAlgorithmTest, RejectsAFlippedSignatureByte) {
  Harness h(OneNode(Node("node-a", GetParam())));
  SignedCall call = SignCall(*SignerFor(GetParam()), "node-a");
  std::string raw = *crypto::Base64UrlDecode(call.signature);
  raw[raw.size() / 2] ^= 0x01;
  call.signature = crypto::Base64UrlEncode(raw);

  ExpectRefused(h.Authorize(call.ToMd()), grpc::StatusCode::UNAUTHENTICATED,
                "signature: does not verify", Rejection::kSignatureInvalid);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, SignatureAlgorithmTest,
                         ::testing::Values(Algorithm::kSm2Sm3, Algorithm::kEcdsaP256Sha256,
                                           Algorithm::kEd25519),
                         [](const auto& info) {
                           std::string n(crypto::AlgorithmName(info.param));
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

// Rejections.

class SignatureRejectionTest : public ::testing::Test {
 protected:
  SignatureRejectionTest() : h_(OneNode(Node("node-a", Algorithm::kEd25519, {"worker"}))) {}
  SignedCall Call(absl::Time ts = kNow) {
    return SignCall(*SignerFor(Algorithm::kEd25519), "node-a", ts);
  }
  Harness h_;
};

TEST_F(SignatureRejectionTest, RejectsUnknownNode) {
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519), "node-x");
  Decision d = h_.Authorize(call.ToMd());
  ExpectRefused(d, grpc::StatusCode::UNAUTHENTICATED, "signature: unknown node",
                Rejection::kSignatureUnknownNode);
  EXPECT_EQ(h_.authorizer().rejections(Rejection::kSignatureUnknownNode), 1u);
}

TEST_F(SignatureRejectionTest, RejectsDisabledNode) {
  NodeCredential n = Node("node-a", Algorithm::kEd25519);
  n.enabled = false;
  Harness h(OneNode(n));
  ExpectRefused(h.Authorize(Call().ToMd()), grpc::StatusCode::UNAUTHENTICATED,
                "signature: node disabled", Rejection::kSignatureNodeDisabled);
}

TEST_F(SignatureRejectionTest, RejectsNodeWhoseStoredKeyDidNotLoad) {
  NodeCredential n = Node("node-a", Algorithm::kEd25519);
  n.verifier = nullptr;
  Harness h(OneNode(n));
  ExpectRefused(h.Authorize(Call().ToMd()), grpc::StatusCode::UNAUTHENTICATED,
                "signature: node has no usable key", Rejection::kSignatureInvalid);
}

TEST_F(SignatureRejectionTest, RejectsNonceThatIsNotBase64Url) {
  Md md = Call().ToMd();
  md.Set("x-node-nonce", "AAECAwQFBgcICQoLDA0ODw==");
  ExpectRefused(h_.Authorize(md), grpc::StatusCode::UNAUTHENTICATED,
                "x-node-nonce: not base64url without padding", Rejection::kMalformed);
}

TEST_F(SignatureRejectionTest, RejectsSignatureThatIsNotBase64Url) {
  Md md = Call().ToMd();
  md.Set("x-node-signature", "not/base64+url");
  ExpectRefused(h_.Authorize(md), grpc::StatusCode::UNAUTHENTICATED,
                "x-node-signature: not base64url without padding", Rejection::kMalformed);
}

TEST_F(SignatureRejectionTest, RejectsNonceShorterThan16Bytes) {
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519), "node-a", kNow, kMethod, kAudience,
                             /*nonce_bytes=*/15);
  ExpectRefused(h_.Authorize(call.ToMd()), grpc::StatusCode::UNAUTHENTICATED,
                "x-node-nonce: shorter than 16 bytes", Rejection::kMalformed);
}

TEST_F(SignatureRejectionTest, RejectsNonDecimalTimestamp) {
  Md md = Call().ToMd();
  md.Set("x-node-timestamp", "1767225600e00");
  ExpectRefused(h_.Authorize(md), grpc::StatusCode::UNAUTHENTICATED,
                "x-node-timestamp: not a decimal number", Rejection::kMalformed);
}

TEST_F(SignatureRejectionTest, RejectsWrongAudience) {
  SignedCall call =
      SignCall(*SignerFor(Algorithm::kEd25519), "node-a", kNow, kMethod, "node-other");
  ExpectRefused(h_.Authorize(call.ToMd()), grpc::StatusCode::UNAUTHENTICATED,
                "signature: does not verify", Rejection::kSignatureInvalid);
}

TEST_F(SignatureRejectionTest, RejectsSignatureForAnotherMethod) {
  SignedCall call =
      SignCall(*SignerFor(Algorithm::kEd25519), "node-a", kNow, "/api.DiceService/Other");
  ExpectRefused(h_.Authorize(call.ToMd()), grpc::StatusCode::UNAUTHENTICATED,
                "signature: does not verify", Rejection::kSignatureInvalid);
}

TEST_F(SignatureRejectionTest, RejectsHeadersSignedForAnotherNodeId) {
  // node-a's key, but the call claims to come from node-b (also registered, other key).
  CredentialSnapshot s = OneNode(Node("node-a", Algorithm::kEd25519));
  s.nodes.emplace("node-b", Node("node-b", Algorithm::kEd25519, {}, /*key_index=*/1));
  Harness h(std::move(s));
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519, 0), "node-b");
  ExpectRefused(h.Authorize(call.ToMd()), grpc::StatusCode::UNAUTHENTICATED,
                "signature: does not verify", Rejection::kSignatureInvalid);
}

TEST_F(SignatureRejectionTest, RejectsSignatureByAnotherKey) {
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519, /*index=*/1), "node-a");
  ExpectRefused(h_.Authorize(call.ToMd()), grpc::StatusCode::UNAUTHENTICATED,
                "signature: does not verify", Rejection::kSignatureInvalid);
}

TEST_F(SignatureRejectionTest, RejectsAlgorithmMismatch) {
  // Registered with an ed25519 key; the caller signs with an ECDSA key: the algorithm is the
  // registered one, never the caller's.
  SignedCall call = SignCall(*SignerFor(Algorithm::kEcdsaP256Sha256), "node-a");
  ExpectRefused(h_.Authorize(call.ToMd()), grpc::StatusCode::UNAUTHENTICATED,
                "signature: does not verify", Rejection::kSignatureInvalid);
}

TEST_F(SignatureRejectionTest, AcceptsTimestampsAtBothEdgesOfTheWindow) {
  const absl::Duration skew = absl::Seconds(60);
  EXPECT_TRUE(h_.Authorize(Call(kNow - skew).ToMd()).status.ok());
  EXPECT_TRUE(h_.Authorize(Call(kNow + skew).ToMd()).status.ok());
}

TEST_F(SignatureRejectionTest, RejectsStaleTimestamp) {
  Decision d = h_.Authorize(Call(kNow - absl::Seconds(60) - absl::Milliseconds(1)).ToMd());
  ExpectRefused(d, grpc::StatusCode::UNAUTHENTICATED,
                "signature: timestamp outside the allowed window", Rejection::kSignatureSkew);
}

TEST_F(SignatureRejectionTest, RejectsFutureTimestamp) {
  Decision d = h_.Authorize(Call(kNow + absl::Seconds(60) + absl::Milliseconds(1)).ToMd());
  ExpectRefused(d, grpc::StatusCode::UNAUTHENTICATED,
                "signature: timestamp outside the allowed window", Rejection::kSignatureSkew);
}

TEST_F(SignatureRejectionTest, HonoursConfiguredMaxSkew) {
  AuthorizerOptions o = Harness::DefaultOptions();
  o.max_skew = absl::Seconds(5);
  Harness h(OneNode(Node("node-a", Algorithm::kEd25519)), {}, o);
  EXPECT_TRUE(h.Authorize(Call(kNow - absl::Seconds(5)).ToMd()).status.ok());
  EXPECT_EQ(h.Authorize(Call(kNow - absl::Seconds(6)).ToMd()).rejection, Rejection::kSignatureSkew);
}

TEST_F(SignatureRejectionTest, RejectsReplayedNonce) {
  Md md = Call().ToMd();
  ASSERT_TRUE(h_.Authorize(md).status.ok());

  Decision second = h_.Authorize(md, ::nodegate::testlib::NoPeer(), kNow + absl::Seconds(1));

  ExpectRefused(second, grpc::StatusCode::UNAUTHENTICATED, "signature: nonce already used (replay)",
                Rejection::kSignatureReplay);
}

TEST_F(SignatureRejectionTest, RejectsReplayAtTheLastMillisecondOfTheWindow) {
  // The call is still inside the window at ts + max_skew, so its nonce must still be remembered.
  Md md = Call().ToMd();
  ASSERT_TRUE(h_.Authorize(md).status.ok());
  Decision replay = h_.Authorize(md, ::nodegate::testlib::NoPeer(), kNow + absl::Seconds(60));
  EXPECT_EQ(replay.rejection, Rejection::kSignatureReplay) << replay.status.error_message();
  EXPECT_FALSE(replay.status.ok());
}

TEST_F(SignatureRejectionTest, RejectsReplayWithTheSameNonceAndAFreshSignature) {
  SignedCall first = Call();
  ASSERT_TRUE(h_.Authorize(first.ToMd()).status.ok());
  // Re-signed with the same nonce (a new timestamp changes the signed string).
  SignedCall again = first;
  again.timestamp = absl::StrCat(absl::ToUnixMillis(kNow) + 1);
  again.signature = crypto::Base64UrlEncode(
      *SignerFor(Algorithm::kEd25519)
           ->Sign(sigv1::StringToSign(kMethod, kAudience, "node-a", again.timestamp, again.nonce)));
  EXPECT_EQ(h_.Authorize(again.ToMd()).rejection, Rejection::kSignatureReplay);
}

TEST_F(SignatureRejectionTest, InvalidSignatureDoesNotSpendTheNonce) {
  SignedCall good = Call();
  SignedCall forged = good;
  forged.signature = SignCall(*SignerFor(Algorithm::kEd25519, 1), "node-a").signature;
  ASSERT_EQ(h_.Authorize(forged.ToMd()).rejection, Rejection::kSignatureInvalid);
  EXPECT_TRUE(h_.Authorize(good.ToMd()).status.ok());
  EXPECT_EQ(h_.authorizer().replay_cache_size(), 1u);
}

TEST_F(SignatureRejectionTest, RefusesAForgedSignatureOverANonceAGoodCallSpent) {
  // A spent nonce vouches for nothing: someone who saw node-a's headers cannot pair them with a
  // signature of their own.
  SignedCall good = Call();
  ASSERT_TRUE(h_.Authorize(good.ToMd()).status.ok());
  SignedCall forged = good;
  forged.signature = SignCall(*SignerFor(Algorithm::kEd25519, 1), "node-a").signature;

  Decision d = h_.Authorize(forged.ToMd(), ::nodegate::testlib::NoPeer(), kNow + absl::Seconds(1));

  ExpectRefused(d, grpc::StatusCode::UNAUTHENTICATED, "signature: does not verify",
                Rejection::kSignatureInvalid);
}

class MissingHeaderTest : public ::testing::TestWithParam<std::string_view> {};

TEST_P(MissingHeaderTest, RejectsCallMissingTheHeaderAndNamesIt) {
  Harness h(OneNode(Node("node-a", Algorithm::kEd25519)));
  Md md = SignCall(*SignerFor(Algorithm::kEd25519), "node-a").ToMd();
  md.Remove(std::string(GetParam()));
  ExpectRefused(h.Authorize(md), grpc::StatusCode::UNAUTHENTICATED,
                absl::StrCat("signature: missing ", std::string(GetParam())),
                Rejection::kMalformed);
}

INSTANTIATE_TEST_SUITE_P(Headers, MissingHeaderTest,
                         ::testing::Values(sigv1::kNodeIdHeader, sigv1::kTimestampHeader,
                                           sigv1::kNonceHeader, sigv1::kSignatureHeader),
                         [](const auto& info) {
                           std::string n(info.param);
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

TEST_F(SignatureRejectionTest, RejectsOversizedNodeId) {
  Md md = Call().ToMd();
  md.Set("x-node-id", std::string(129, 'a'));
  ExpectRefused(h_.Authorize(md), grpc::StatusCode::UNAUTHENTICATED,
                "x-node-id: not [A-Za-z0-9._-]{1,128}", Rejection::kMalformed);
}

TEST_F(SignatureRejectionTest, RejectsOversizedTimestamp) {
  Md md = Call().ToMd();
  md.Set("x-node-timestamp", std::string(4096, '1'));
  ExpectRefused(h_.Authorize(md), grpc::StatusCode::UNAUTHENTICATED,
                "x-node-timestamp: not a Unix time in milliseconds", Rejection::kMalformed);
}

TEST_F(SignatureRejectionTest, RejectsOversizedNonce) {
  Md md = Call().ToMd();
  md.Set("x-node-nonce", std::string(8192, 'A'));
  ExpectRefused(h_.Authorize(md), grpc::StatusCode::UNAUTHENTICATED, "x-node-nonce: too long",
                Rejection::kMalformed);
}

TEST_F(SignatureRejectionTest, RejectsOversizedSignature) {
  Md md = Call().ToMd();
  md.Set("x-node-signature", std::string(8192, 'A'));
  ExpectRefused(h_.Authorize(md), grpc::StatusCode::UNAUTHENTICATED, "x-node-signature: too long",
                Rejection::kMalformed);
}

TEST_F(SignatureRejectionTest, ValidTokenDoesNotRescueABadSignature) {
  // A present-but-invalid credential fails the call even when another one is good (fail closed).
  CredentialSnapshot s = OneNode(Node("node-a", Algorithm::kEd25519));
  s.tokens.emplace(crypto::Sha256("tok"), ::nodegate::testlib::Token("tok", "alice"));
  Harness h(std::move(s));
  Md md = SignCall(*SignerFor(Algorithm::kEd25519, 1), "node-a").ToMd();
  md.Add("authorization", "Bearer tok");
  EXPECT_EQ(h.Authorize(md).rejection, Rejection::kSignatureInvalid);
}

TEST_F(SignatureRejectionTest, InvalidSignatureFailsEvenWithAValidClientCertificate) {
  Md md = SignCall(*SignerFor(Algorithm::kEd25519, 1), "node-a").ToMd();
  EXPECT_EQ(h_.Authorize(md, CertPeer("node-a")).rejection, Rejection::kSignatureInvalid);
}

// Replay cache full.

class ReplayCacheFullTest : public ::testing::Test {
 protected:
  ReplayCacheFullTest() : h_(OneNode(Node("node-a", Algorithm::kEd25519)), {}, Options()) {}
  static AuthorizerOptions Options() {
    AuthorizerOptions o = Harness::DefaultOptions();
    o.replay_cache_capacity = 16;  // 16 shards of one entry
    return o;
  }
  // Signs fresh calls until every shard holds its one entry; returns the first refusal (a call
  // landing in a full shard is refused before the others fill up).
  Decision FillCache() {
    std::optional<Decision> first_refusal;
    for (int i = 0; i < 2000 && (h_.authorizer().replay_cache_size() < 16 || !first_refusal); ++i) {
      Decision d = h_.Authorize(SignCall(*SignerFor(Algorithm::kEd25519), "node-a").ToMd());
      if (!d.status.ok() && !first_refusal) first_refusal = d;
    }
    EXPECT_EQ(h_.authorizer().replay_cache_size(), 16u);
    EXPECT_TRUE(first_refusal.has_value());
    return first_refusal.value_or(Decision{});
  }
  Harness h_;
};

TEST_F(ReplayCacheFullTest, RefusesWithResourceExhausted) {
  Decision d = FillCache();
  ExpectRefused(d, grpc::StatusCode::RESOURCE_EXHAUSTED,
                "signature: replay cache full, retry later", Rejection::kReplayCacheFull);
}

TEST_F(ReplayCacheFullTest, FailsClosedForEveryFurtherCall) {
  ASSERT_EQ(FillCache().rejection, Rejection::kReplayCacheFull);
  ASSERT_EQ(h_.authorizer().replay_cache_size(), 16u);
  // Now every shard is full: no fresh, valid call gets through, whichever shard it lands in.
  for (int i = 0; i < 20; ++i) {
    Decision d = h_.Authorize(SignCall(*SignerFor(Algorithm::kEd25519), "node-a").ToMd());
    EXPECT_EQ(d.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_FALSE(d.principal.authenticated());
  }
}

TEST_F(ReplayCacheFullTest, RecoversOnceEntriesExpire) {
  ASSERT_EQ(FillCache().rejection, Rejection::kReplayCacheFull);
  const absl::Time later = kNow + absl::Minutes(5);
  Decision d = h_.Authorize(SignCall(*SignerFor(Algorithm::kEd25519), "node-a", later).ToMd(),
                            ::nodegate::testlib::NoPeer(), later);
  EXPECT_TRUE(d.status.ok()) << d.status.error_message();
}

// One node filling the cache must not lock out another (fair shares, ReplayCache).
TEST(ReplayCacheShareTest, ANodeThatFillsTheCacheDoesNotLockOutAnother) {
  CredentialSnapshot snap;
  snap.nodes.emplace("node-a", Node("node-a", Algorithm::kEd25519));
  snap.nodes.emplace("node-b", Node("node-b", Algorithm::kEd25519, {}, /*key_index=*/1));
  AuthorizerOptions o = Harness::DefaultOptions();
  o.replay_cache_capacity = 32;  // 16 shards of 2; two nodes, so a share of 16 each
  Harness h(std::move(snap), {}, o);
  int refused = 0;
  for (int i = 0; i < 500; ++i) {
    Decision d = h.Authorize(SignCall(*SignerFor(Algorithm::kEd25519), "node-a").ToMd());
    if (d.rejection == Rejection::kReplayCacheFull) ++refused;
  }
  ASSERT_GT(refused, 0) << "node-a did fill the pool";
  for (int i = 0; i < 16; ++i) {
    Decision d = h.Authorize(SignCall(*SignerFor(Algorithm::kEd25519, 1), "node-b").ToMd());
    EXPECT_TRUE(d.status.ok()) << i << ": " << d.status.error_message();
  }
}

// Key rotation.

class RotationTest : public ::testing::Test {
 protected:
  RotationTest() : h_(Snapshot()) {}
  static CredentialSnapshot Snapshot() {
    NodeCredential n = Node("node-a", Algorithm::kEd25519, {}, /*key_index=*/1);  // new key
    n.previous_verifier = VerifierFor(Algorithm::kEcdsaP256Sha256);               // old key
    n.previous_valid_until = kGraceEnd;
    return OneNode(n);
  }
  static inline const absl::Time kGraceEnd = kNow + absl::Hours(1);
  Harness h_;
};

TEST_F(RotationTest, AcceptsTheNewKey) {
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519, 1), "node-a");
  EXPECT_TRUE(h_.Authorize(call.ToMd()).status.ok());
}

TEST_F(RotationTest, AcceptsThePreviousKeyDuringTheGrace) {
  const absl::Time t = kGraceEnd - absl::Milliseconds(1);
  SignedCall call = SignCall(*SignerFor(Algorithm::kEcdsaP256Sha256), "node-a", t);
  Decision d = h_.Authorize(call.ToMd(), ::nodegate::testlib::NoPeer(), t);
  EXPECT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.ToString(), "node:node-a");
}

TEST_F(RotationTest, MarksAPrincipalSignedWithThePreviousKey) {
  const absl::Time t = kGraceEnd - absl::Milliseconds(1);
  SignedCall call = SignCall(*SignerFor(Algorithm::kEcdsaP256Sha256), "node-a", t);
  Decision d = h_.Authorize(call.ToMd(), ::nodegate::testlib::NoPeer(), t);
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_TRUE(d.principal.signed_with_previous_key);
}

TEST_F(RotationTest, DoesNotMarkAPrincipalSignedWithTheCurrentKey) {
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519, 1), "node-a");
  Decision d = h_.Authorize(call.ToMd());
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_FALSE(d.principal.signed_with_previous_key);
}

TEST_F(RotationTest, RefusesThePreviousKeyOnceTheGraceEnds) {
  SignedCall call = SignCall(*SignerFor(Algorithm::kEcdsaP256Sha256), "node-a", kGraceEnd);
  ExpectRefused(h_.Authorize(call.ToMd(), ::nodegate::testlib::NoPeer(), kGraceEnd),
                grpc::StatusCode::UNAUTHENTICATED, "signature: does not verify",
                Rejection::kSignatureInvalid);
}

TEST_F(RotationTest, StillRefusesAThirdKey) {
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519, 2), "node-a");
  EXPECT_EQ(h_.Authorize(call.ToMd()).rejection, Rejection::kSignatureInvalid);
}

// Construction.

TEST(AuthorizerNewTest, RefusesAnInvalidAudience) {
  auto source = std::make_shared<::nodegate::testlib::MemorySource>();
  auto cache = *CredentialCache::Start(source, absl::ZeroDuration());
  AuthorizerOptions o;
  o.audience = "not a node id";
  auto a = Authorizer::New(o, *Policy::Build({}, {}), cache.get());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), ::testing::HasSubstr("node.id"));
}

TEST(AuthorizerNewTest, RefusesNonPositiveMaxSkew) {
  auto source = std::make_shared<::nodegate::testlib::MemorySource>();
  auto cache = *CredentialCache::Start(source, absl::ZeroDuration());
  AuthorizerOptions o = Harness::DefaultOptions();
  o.max_skew = absl::ZeroDuration();
  EXPECT_EQ(Authorizer::New(o, *Policy::Build({}, {}), cache.get()).status().message(),
            "auth.signature.max_skew: must be positive");
}

TEST(AuthorizerNewTest, RefusesZeroReplayCacheCapacity) {
  auto source = std::make_shared<::nodegate::testlib::MemorySource>();
  auto cache = *CredentialCache::Start(source, absl::ZeroDuration());
  AuthorizerOptions o = Harness::DefaultOptions();
  o.replay_cache_capacity = 0;
  EXPECT_EQ(Authorizer::New(o, *Policy::Build({}, {}), cache.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AuthorizerNewTest, RefusesMissingPolicyOrCache) {
  auto source = std::make_shared<::nodegate::testlib::MemorySource>();
  auto cache = *CredentialCache::Start(source, absl::ZeroDuration());
  EXPECT_FALSE(Authorizer::New(Harness::DefaultOptions(), nullptr, cache.get()).ok());
  EXPECT_FALSE(Authorizer::New(Harness::DefaultOptions(), *Policy::Build({}, {}), nullptr).ok());
}

}  // namespace
}  // namespace nodegate::auth
