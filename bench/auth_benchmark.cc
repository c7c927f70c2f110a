// Per-call cost of the auth layer: what auth::Authorizer::Authorize adds to every call, per
// authenticator, against a realistic credential snapshot (1000 nodes, 1000 tokens, 1000 app keys)
// and realistic call metadata. Target (issue 8): the whole token / app-key path < 2 µs per call.
// The signature path is dominated by one Verify; compare it with crypto_benchmark's BM_Verify to
// see what the authorizer adds around the crypto. Also: the replay cache alone (single and
// multi-threaded) and policy resolution.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "auth/replay_cache.h"
#include "auth/signature_v1.h"
#include "crypto/algorithm.h"
#include "crypto/digest.h"
#include "crypto/encoding.h"
#include "crypto/key.h"
#include "crypto/random.h"
#include "crypto/signer_factory.h"
#include "tls/peer_identity.h"

namespace nodegate::auth {
namespace {

using crypto::Algorithm;

constexpr char kAudience[] = "node-server";
constexpr char kMethod[] = "/api.DiceService/RollDie";
constexpr int kPopulation = 1000;  // nodes, tokens and app keys in the snapshot
const absl::Time kNow = absl::FromUnixMillis(1'767'225'600'000);

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", v.status().ToString().c_str());
    std::abort();
  }
  return *std::move(v);
}

std::string TokenOf(int i) { return absl::StrCat("ngt_bench-token-", i, "-0123456789abcdefghij"); }
std::string SecretOf(int i) { return absl::StrCat("ngs_bench-secret-", i, "-0123456789abcdefghi"); }

class FixedSource : public CredentialSource {
 public:
  explicit FixedSource(CredentialSnapshot s) : snapshot_(std::move(s)) {}
  absl::StatusOr<uint64_t> Generation() override { return 1; }
  absl::StatusOr<CredentialSnapshot> Load() override { return snapshot_; }

 private:
  CredentialSnapshot snapshot_;
};

// kPopulation of each credential kind; node "node-<i>" verifies with `keys` (one key for all: the
// map size is what matters for lookups, not key diversity).
CredentialSnapshot Population(Algorithm alg, const crypto::KeyPair& keys) {
  CredentialSnapshot s;
  std::shared_ptr<const crypto::Verifier> verifier =
      OrDie(crypto::NewVerifier(alg, keys.public_key_pem));
  for (int i = 0; i < kPopulation; ++i) {
    NodeCredential n;
    n.id = absl::StrCat("node-", i);
    n.roles = {"worker"};
    n.verifier = verifier;
    s.nodes.emplace(n.id, n);
    TokenCredential t{crypto::Sha256(TokenOf(i)),
                      Principal::Kind::kUser,
                      absl::StrCat("user-", i),
                      {"reader"},
                      absl::InfiniteFuture()};
    s.tokens.emplace(t.hash, t);
    s.apps.emplace(
        absl::StrCat("app-", i),
        AppCredential{crypto::Sha256(SecretOf(i)), absl::StrCat("app-", i), {"writer"}, true});
  }
  return s;
}

// An Authorizer under the default rule (any authenticated caller) — the common case.
struct Fixture {
  explicit Fixture(Algorithm alg = Algorithm::kEd25519)
      : keys(OrDie(crypto::GenerateKeyPair(alg))) {
    cache = OrDie(CredentialCache::Start(std::make_shared<FixedSource>(Population(alg, keys)),
                                         absl::ZeroDuration()));
    AuthorizerOptions o;
    o.audience = kAudience;
    o.replay_cache_capacity = 1 << 22;  // never the limit here: each run gets a fresh one
    authorizer = OrDie(Authorizer::New(o, OrDie(Policy::Build({}, {})), cache.get()));
  }
  crypto::KeyPair keys;
  std::unique_ptr<CredentialCache> cache;
  std::unique_ptr<Authorizer> authorizer;
};

// Call metadata as the Authorizer sees it: the credential headers among the usual ones. Backing
// strings live in a deque so that the string_refs stay valid.
class CallMetadata {
 public:
  CallMetadata() {
    Add(":authority", "node-server:7443");
    Add("content-type", "application/grpc");
    Add("te", "trailers");
    Add("grpc-accept-encoding", "identity,deflate,gzip");
    Add("user-agent", "grpc-c++/1.51.1 grpc-c/29.0.0 (linux; chttp2)");
  }
  CallMetadata(const CallMetadata&) = delete;
  CallMetadata& operator=(const CallMetadata&) = delete;

  void Add(std::string key, std::string value) {
    strings_.push_back(std::move(key));
    const std::string& k = strings_.back();
    strings_.push_back(std::move(value));
    const std::string& v = strings_.back();
    md_.emplace(grpc::string_ref(k), grpc::string_ref(v));
  }
  const Metadata& md() const { return md_; }

 private:
  std::deque<std::string> strings_;
  Metadata md_;
};

tls::PeerIdentity ClientCert(const std::string& node_id) {
  tls::PeerIdentity p;
  p.authenticated = true;
  p.common_name = node_id;
  p.spiffe_id = absl::StrCat("spiffe://nodegate.local/node/", node_id);
  p.transport = "ssl";
  return p;
}

void Run(benchmark::State& state, Authorizer& a, const Metadata& md,
         const tls::PeerIdentity& peer) {
  for (auto _ : state) {
    Decision d = a.Authorize(kMethod, md, peer, kNow);
    if (!d.status.ok()) {
      state.SkipWithError(d.status.error_message().c_str());
      break;
    }
    benchmark::DoNotOptimize(d);
  }
}

void BM_AuthorizeToken(benchmark::State& state) {
  Fixture f;
  CallMetadata md;
  md.Add("authorization", "Bearer " + TokenOf(kPopulation / 2));
  Run(state, *f.authorizer, md.md(), tls::PeerIdentity{});
}
BENCHMARK(BM_AuthorizeToken);

// The "mTLS + token" deployment: the token names the caller, the certificate also vouches.
void BM_AuthorizeTokenWithMtls(benchmark::State& state) {
  Fixture f;
  CallMetadata md;
  md.Add("authorization", "Bearer " + TokenOf(kPopulation / 2));
  Run(state, *f.authorizer, md.md(), ClientCert("node-7"));
}
BENCHMARK(BM_AuthorizeTokenWithMtls);

void BM_AuthorizeAppKey(benchmark::State& state) {
  Fixture f;
  CallMetadata md;
  md.Add("app-key", absl::StrCat("app-", kPopulation / 2));
  md.Add("app-secret", SecretOf(kPopulation / 2));
  Run(state, *f.authorizer, md.md(), tls::PeerIdentity{});
}
BENCHMARK(BM_AuthorizeAppKey);

void BM_AuthorizeMtls(benchmark::State& state) {
  Fixture f;
  CallMetadata md;
  Run(state, *f.authorizer, md.md(), ClientCert("node-7"));
}
BENCHMARK(BM_AuthorizeMtls);

// A rejected call costs no more than an accepted one (no credential at all: the cheapest path).
void BM_AuthorizeRejectedNoCredential(benchmark::State& state) {
  Fixture f;
  CallMetadata md;
  for (auto _ : state) {
    Decision d = f.authorizer->Authorize(kMethod, md.md(), tls::PeerIdentity{}, kNow);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_AuthorizeRejectedNoCredential);

// Every iteration is a distinct, freshly signed call (a replay would be refused): calls are signed
// in batches with the timer paused, so only Authorize is measured.
void BM_AuthorizeSignature(benchmark::State& state, Algorithm alg) {
  constexpr int kBatch = 256;
  Fixture f(alg);
  std::unique_ptr<crypto::Signer> signer = OrDie(crypto::NewSigner(alg, f.keys.private_key_pem));
  const std::string node_id = absl::StrCat("node-", kPopulation / 2);
  const std::string ts = absl::StrCat(absl::ToUnixMillis(kNow));
  std::vector<std::unique_ptr<CallMetadata>> batch;
  auto sign_batch = [&] {
    batch.clear();
    for (int i = 0; i < kBatch; ++i) {
      const std::string nonce = crypto::Base64UrlEncode(OrDie(crypto::RandomBytes(16)));
      const std::string sig = crypto::Base64UrlEncode(
          OrDie(signer->Sign(sigv1::StringToSign(kMethod, kAudience, node_id, ts, nonce))));
      auto md = std::make_unique<CallMetadata>();
      md->Add(std::string(sigv1::kNodeIdHeader), node_id);
      md->Add(std::string(sigv1::kTimestampHeader), ts);
      md->Add(std::string(sigv1::kNonceHeader), nonce);
      md->Add(std::string(sigv1::kSignatureHeader), sig);
      batch.push_back(std::move(md));
    }
  };
  sign_batch();
  size_t next = 0;
  for (auto _ : state) {
    if (next == batch.size()) {
      state.PauseTiming();
      sign_batch();
      next = 0;
      state.ResumeTiming();
    }
    Decision d = f.authorizer->Authorize(kMethod, batch[next++]->md(), tls::PeerIdentity{}, kNow);
    if (!d.status.ok()) {
      state.SkipWithError(d.status.error_message().c_str());
      break;
    }
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(std::string(crypto::AlgorithmName(alg)));
}
BENCHMARK_CAPTURE(BM_AuthorizeSignature, sm2_sm3, Algorithm::kSm2Sm3);
BENCHMARK_CAPTURE(BM_AuthorizeSignature, ecdsa_p256_sha256, Algorithm::kEcdsaP256Sha256);
BENCHMARK_CAPTURE(BM_AuthorizeSignature, ed25519, Algorithm::kEd25519);

// Replay cache in steady state: each thread's virtual clock advances 1 ms per insert and entries
// live for `window` ms, so about `window` entries per thread are live — what a server holding
// max_skew worth of nonces sees. Arg: window (live entries per thread).
const std::vector<std::string>& Nonces() {
  static const std::vector<std::string>* nonces = [] {
    auto* v = new std::vector<std::string>();
    v->reserve(1 << 18);
    for (int i = 0; i < (1 << 18); ++i) {
      v->push_back(crypto::Base64UrlEncode(OrDie(crypto::RandomBytes(16))));
    }
    return v;
  }();
  return *nonces;
}

ReplayCache* shared_cache = nullptr;

void BM_ReplayCacheInsert(benchmark::State& state) {
  const int64_t window = state.range(0);
  const std::vector<std::string>& nonces = Nonces();  // longer than any window: no live reuse
  if (state.thread_index() == 0) {
    shared_cache = OrDie(ReplayCache::New(4 * window * state.threads())).release();
  }
  // (Threads meet at a barrier before the loop, so shared_cache is set when they use it.)
  const std::string node_id = absl::StrCat("node-", state.thread_index());
  int64_t i = 0;
  for (auto _ : state) {
    const absl::Time now = kNow + absl::Milliseconds(i);
    absl::Status s = shared_cache->CheckAndInsert(node_id, nonces[i & ((1 << 18) - 1)],
                                                  now + absl::Milliseconds(window), now);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    ++i;
  }
  if (state.thread_index() == 0) {
    delete shared_cache;  // after the closing barrier: no thread uses it any more
    shared_cache = nullptr;
  }
}
BENCHMARK(BM_ReplayCacheInsert)->Arg(1 << 10)->Arg(1 << 16);
BENCHMARK(BM_ReplayCacheInsert)->Arg(1 << 16)->Threads(2)->UseRealTime();

// Policy resolution per call. Arg: 0 config exact, 1 config wildcard, 2 proto option, 3 builtin
// (health), 4 default.
void BM_PolicyResolve(benchmark::State& state) {
  std::vector<Rule> config;
  std::vector<Rule> proto;
  for (int i = 0; i < 20; ++i) {
    Rule exact;
    exact.pattern = absl::StrCat("/app.Service", i, "/Method");
    exact.roles = {"ops"};
    config.push_back(exact);
    Rule wildcard;
    wildcard.pattern = absl::StrCat("/app.Wild", i, "/*");
    wildcard.authenticators = kMtls;
    config.push_back(wildcard);
    Rule p;
    p.pattern = absl::StrCat("/nodegate.v1.Svc", i, "/Call");
    proto.push_back(p);
  }
  std::shared_ptr<const Policy> policy = OrDie(Policy::Build(config, proto));
  static const char* const kMethods[] = {"/app.Service7/Method", "/app.Wild7/Anything",
                                         "/nodegate.v1.Svc7/Call", "/grpc.health.v1.Health/Check",
                                         "/api.DiceService/RollDie"};
  static const char* const kLabels[] = {"config exact", "config wildcard", "proto", "builtin",
                                        "default"};
  const std::string method = kMethods[state.range(0)];
  for (auto _ : state) benchmark::DoNotOptimize(&policy->Resolve(method));
  state.SetLabel(kLabels[state.range(0)]);
}
BENCHMARK(BM_PolicyResolve)->DenseRange(0, 4);

}  // namespace
}  // namespace nodegate::auth

BENCHMARK_MAIN();
