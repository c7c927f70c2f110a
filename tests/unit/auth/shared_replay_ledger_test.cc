// Replays across the replicas of a fleet: two Authorizers, each with its own replay cache and its
// own shared-mode ReplayLedger, over one database stand for two replicas. Every case runs on
// PostgreSQL (the fleet's store) and on SQLite (two processes on one file follow the same rules).
#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/authorizer.h"
#include "auth/replay_ledger.h"
#include "gtest/gtest.h"
#include "testlib/auth.h"
#include "testlib/keys.h"
#include "testlib/nonce_faults.h"
#include "testlib/status.h"
#include "testlib/store_backends.h"

namespace nodegate::auth {
namespace {

using crypto::Algorithm;
using ::nodegate::testlib::FaultyNonceStore;
using ::nodegate::testlib::Harness;
using ::nodegate::testlib::kNow;
using ::nodegate::testlib::Node;
using ::nodegate::testlib::SignCall;
using ::nodegate::testlib::SignedCall;
using ::nodegate::testlib::SignerFor;
using ::nodegate::testlib::Unwrap;

CredentialSnapshot OneNode() {
  CredentialSnapshot s;
  s.nodes.emplace("node-a", Node("node-a", Algorithm::kEd25519));
  return s;
}

// One replica: its stores on the fleet's database, a shared ledger, an Authorizer.
struct Replica {
  store::Stores stores;
  FaultyNonceStore* nonces = nullptr;
  std::unique_ptr<ReplayLedger> ledger;
  std::unique_ptr<Harness> harness;
};

class SharedReplayLedgerTest : public ::nodegate::testlib::StoreBackendTest {
 protected:
  std::unique_ptr<Replica> StartReplica() const {
    auto r = std::make_unique<Replica>();
    r->stores = Open();
    auto faulty = std::make_unique<FaultyNonceStore>(std::move(r->stores.nonces));
    r->nonces = faulty.get();
    r->stores.nonces = std::move(faulty);
    ReplayLedger::Options o;
    o.shared = true;
    r->ledger = Unwrap(ReplayLedger::Open(r->stores.nonces.get(), o, kNow));
    AuthorizerOptions a = Harness::DefaultOptions();
    a.ledger = r->ledger.get();
    r->harness = std::make_unique<Harness>(OneNode(), std::vector<Rule>{}, a);
    return r;
  }

  static SignedCall Call(absl::Time at = kNow) {
    return SignCall(*SignerFor(Algorithm::kEd25519), "node-a", at);
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, SharedReplayLedgerTest, ::nodegate::testlib::AllStoreBackends(),
                         ::nodegate::testlib::StoreBackendName);

TEST_P(SharedReplayLedgerTest, ACallAcceptedByOneReplicaIsRefusedByAnother) {
  std::unique_ptr<Replica> a = StartReplica();
  std::unique_ptr<Replica> b = StartReplica();
  SignedCall call = Call();

  ASSERT_TRUE(a->harness->Authorize(call.ToMd()).status.ok());
  Decision replayed = b->harness->Authorize(call.ToMd(), {}, kNow + absl::Seconds(1));

  EXPECT_EQ(replayed.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(replayed.rejection, Rejection::kSignatureReplay);
  EXPECT_EQ(replayed.status.error_message(), "signature: nonce already used (replay)");
}

TEST_P(SharedReplayLedgerTest, ACallAcceptedBeforeARestartIsRefusedAfterIt) {
  SignedCall call = Call();
  { ASSERT_TRUE(StartReplica()->harness->Authorize(call.ToMd()).status.ok()); }
  std::unique_ptr<Replica> restarted = StartReplica();

  Decision replayed = restarted->harness->Authorize(call.ToMd(), {}, kNow + absl::Seconds(1));

  EXPECT_EQ(replayed.rejection, Rejection::kSignatureReplay);
}

TEST_P(SharedReplayLedgerTest, AFleetRefusesNothingAfterAStartAndNeedsNoLease) {
  // A single node refuses signatures dated before its previous run's lease; replicas share the
  // database, so a lease would stop one replica whenever another restarts. Not used.
  std::unique_ptr<Replica> a = StartReplica();
  { std::unique_ptr<Replica> restarted_b = StartReplica(); }
  std::unique_ptr<Replica> b = StartReplica();

  EXPECT_TRUE(a->harness->Authorize(Call().ToMd()).status.ok());
  EXPECT_TRUE(b->harness->Authorize(Call(kNow - absl::Seconds(5)).ToMd()).status.ok());
  EXPECT_TRUE(b->harness->Authorize(Call(kNow + absl::Hours(1)).ToMd(), {}, kNow + absl::Hours(1))
                  .status.ok());
  EXPECT_EQ(*a->stores.nonces->AliveUntil(), absl::InfinitePast());
}

TEST_P(SharedReplayLedgerTest, EveryAcceptedNonceIsRecordedToExpireWithItsWindow) {
  std::unique_ptr<Replica> a = StartReplica();

  ASSERT_TRUE(a->harness->Authorize(Call().ToMd()).status.ok());

  std::vector<store::NonceRecord> live = Unwrap(a->stores.nonces->Live(kNow));
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].node_id, "node-a");
  // Past the timestamp + max_skew, the signature is refused as out of the window anyway.
  EXPECT_GT(live[0].expires_at, kNow + Harness::DefaultOptions().max_skew);
  EXPECT_LE(live[0].expires_at, kNow + Harness::DefaultOptions().max_skew + absl::Seconds(1));
}

TEST_P(SharedReplayLedgerTest, SignedCallsFailClosedWhileTheDatabaseIsDownAndPassAfter) {
  std::unique_ptr<Replica> a = StartReplica();
  a->nonces->SetDown(true);

  Decision down = a->harness->Authorize(Call().ToMd());
  a->nonces->SetDown(false);
  Decision back = a->harness->Authorize(Call().ToMd());

  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(down.rejection, Rejection::kReplayLedgerUnavailable);
  EXPECT_EQ(down.status.error_message(), "signature: cannot record the nonce, retry later");
  EXPECT_TRUE(back.status.ok()) << back.status.error_message();
  EXPECT_EQ(a->ledger->stats().failures, 1u);
}

TEST_P(SharedReplayLedgerTest, CallsThatQueueBehindABatchGoOutTogetherInTheNext) {
  std::unique_ptr<Replica> a = StartReplica();
  a->nonces->SetHold(true);
  std::vector<SignedCall> calls;
  calls.reserve(9);
  for (int i = 0; i < 9; ++i) calls.push_back(Call());
  std::vector<Decision> decisions(calls.size());
  std::vector<std::thread> callers;
  callers.emplace_back([&] { decisions[0] = a->harness->Authorize(calls[0].ToMd()); });
  a->nonces->AwaitBatch(1);  // the first call's batch is being written...
  for (size_t i = 1; i < calls.size(); ++i) {
    callers.emplace_back([&, i] { decisions[i] = a->harness->Authorize(calls[i].ToMd()); });
  }
  while (a->ledger->stats().waiting < calls.size() - 1) std::this_thread::yield();
  a->nonces->SetHold(false);  // ...and the eight others queued behind it
  for (std::thread& t : callers) t.join();

  for (const Decision& d : decisions) EXPECT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(a->nonces->batch_sizes(), (std::vector<size_t>{1, 8}));
  ReplayLedger::Stats stats = a->ledger->stats();
  EXPECT_EQ(stats.batches, 2u);
  EXPECT_EQ(stats.records, 9u);
  EXPECT_EQ(Unwrap(a->stores.nonces->Live(kNow)).size(), 9u);
}

TEST_P(SharedReplayLedgerTest, OneNonceSpentTwiceInOneBatchIsAcceptedOnce) {
  // Two replicas' worth of the same call reaching one replica's ledger directly (the replay
  // cache in front would refuse the second): the batch itself keeps only the first.
  std::unique_ptr<Replica> a = StartReplica();
  a->nonces->SetHold(true);
  const store::NonceRecord first{"node-a", "n0", "d", kNow + absl::Minutes(1)};
  absl::Status blocker, one, two;
  std::thread t0([&] { blocker = a->ledger->Spend(first, kNow); });
  a->nonces->AwaitBatch(1);
  const store::NonceRecord twice{"node-a", "n1", "d", kNow + absl::Minutes(1)};
  std::thread t1([&] { one = a->ledger->Spend(twice, kNow); });
  std::thread t2([&] { two = a->ledger->Spend(twice, kNow); });
  while (a->ledger->stats().waiting < 2) std::this_thread::yield();
  a->nonces->SetHold(false);
  t0.join();
  t1.join();
  t2.join();

  EXPECT_TRUE(blocker.ok()) << blocker;
  EXPECT_EQ(one.ok() + two.ok(), 1);
  EXPECT_TRUE(absl::IsAlreadyExists(one) || absl::IsAlreadyExists(two)) << one << " " << two;
}

TEST_P(SharedReplayLedgerTest, ConcurrentReplicasAcceptEachCallExactlyOnce) {
  // Both replicas are offered the same 200 calls at once: every call is accepted by exactly one.
  std::unique_ptr<Replica> a = StartReplica();
  std::unique_ptr<Replica> b = StartReplica();
  std::vector<SignedCall> calls;
  calls.reserve(200);
  for (int i = 0; i < 200; ++i) calls.push_back(Call());
  std::vector<int> accepted(calls.size(), 0);
  std::mutex mu;
  std::vector<std::thread> callers;
  for (Replica* r : {a.get(), b.get()}) {
    for (int part = 0; part < 4; ++part) {
      callers.emplace_back([&, r, part] {
        for (size_t i = part; i < calls.size(); i += 4) {
          if (r->harness->Authorize(calls[i].ToMd()).status.ok()) {
            std::lock_guard<std::mutex> lock(mu);
            ++accepted[i];
          }
        }
      });
    }
  }
  for (std::thread& t : callers) t.join();

  EXPECT_EQ(std::count(accepted.begin(), accepted.end(), 1), 200);
  EXPECT_EQ(a->ledger->stats().records + b->ledger->stats().records, 400u);
}

// The server's path: a shared-ledger nonce is spent after the decision, off the caller's thread.
class DeferredDecision {
 public:
  auth::Authorizer::DecisionDone Done() {
    return [this](Decision d) {
      std::lock_guard<std::mutex> lock(mu_);
      decision_ = std::move(d);
      ++calls_;
      cv_.notify_all();
    };
  }
  Decision Await() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return calls_ > 0; });
    return *decision_;
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Decision> decision_;
  int calls_ = 0;
};

TEST_P(SharedReplayLedgerTest, AuthorizeOrDeferAllowsASignedCallOnceItsNonceIsCommitted) {
  std::unique_ptr<Replica> a = StartReplica();
  SignedCall call = Call();
  DeferredDecision later;

  std::optional<Decision> now =
      a->harness->authorizer().AuthorizeOrDefer(::nodegate::testlib::kMethod, call.ToMd().view(),
                                                ::nodegate::testlib::NoPeer(), kNow, later.Done());

  EXPECT_FALSE(now.has_value());
  Decision d = later.Await();
  EXPECT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.principal.id, "node-a");
  EXPECT_EQ(later.calls(), 1);
  EXPECT_EQ(Unwrap(a->stores.nonces->Live(kNow)).size(), 1u);
}

TEST_P(SharedReplayLedgerTest, AuthorizeOrDeferRefusesAReplayFromAnotherReplicaAfterTheBatch) {
  std::unique_ptr<Replica> a = StartReplica();
  std::unique_ptr<Replica> b = StartReplica();
  SignedCall call = Call();
  ASSERT_TRUE(a->harness->Authorize(call.ToMd()).status.ok());
  DeferredDecision later;

  std::optional<Decision> now =
      b->harness->authorizer().AuthorizeOrDefer(::nodegate::testlib::kMethod, call.ToMd().view(),
                                                ::nodegate::testlib::NoPeer(), kNow, later.Done());

  ASSERT_FALSE(now.has_value());
  Decision d = later.Await();
  EXPECT_EQ(d.rejection, Rejection::kSignatureReplay);
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(b->harness->authorizer().rejections(Rejection::kSignatureReplay), 1u);
}

TEST_P(SharedReplayLedgerTest, AuthorizeOrDeferDecidesAtOnceWhenNothingIsToBeSpent) {
  std::unique_ptr<Replica> a = StartReplica();
  SignedCall forged = Call();
  forged.signature[3] = forged.signature[3] == 'A' ? 'B' : 'A';
  DeferredDecision later;

  std::optional<Decision> refused =
      a->harness->authorizer().AuthorizeOrDefer(::nodegate::testlib::kMethod, forged.ToMd().view(),
                                                ::nodegate::testlib::NoPeer(), kNow, later.Done());

  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->rejection, Rejection::kSignatureInvalid);
  EXPECT_EQ(later.calls(), 0);
  EXPECT_TRUE(Unwrap(a->stores.nonces->Live(kNow)).empty());
}

TEST_P(SharedReplayLedgerTest, AuthorizeOrDeferFailsClosedWhenTheBatchCannotBeWritten) {
  std::unique_ptr<Replica> a = StartReplica();
  a->nonces->SetDown(true);
  DeferredDecision later;

  ASSERT_FALSE(a->harness->authorizer()
                   .AuthorizeOrDefer(::nodegate::testlib::kMethod, Call().ToMd().view(),
                                     ::nodegate::testlib::NoPeer(), kNow, later.Done())
                   .has_value());

  Decision d = later.Await();
  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(d.rejection, Rejection::kReplayLedgerUnavailable);
}

}  // namespace
}  // namespace nodegate::auth
