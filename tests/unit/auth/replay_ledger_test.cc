// Replays across a restart: two Authorizers over one SQLite store stand for two runs of a node.
// Every clock is injected; the lease is renewed by hand (Options::lease renewals without a thread
// are not possible, so the tests use a long lease and never wait for it).
#include "auth/replay_ledger.h"

#include <memory>
#include <string>

#include "auth/authorizer.h"
#include "gtest/gtest.h"
#include "store/sqlite/sqlite_stores.h"
#include "testlib/auth.h"
#include "testlib/keys.h"
#include "testlib/status.h"
#include "testlib/stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::auth {
namespace {

using crypto::Algorithm;
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

// One run of a node: a ledger opened at `start` and an Authorizer using it.
struct NodeRun {
  std::unique_ptr<ReplayLedger> ledger;
  std::unique_ptr<Harness> harness;
};

class ReplayLedgerTest : public ::testing::Test {
 protected:
  ::nodegate::testlib::ScopedTempDir dir_;  // first: removed after the stores close
  void SetUp() override { stores_ = ::nodegate::testlib::OpenStores(dir_); }

  NodeRun Start(absl::Time start) const {
    ReplayLedger::Options o;
    o.margin = absl::Seconds(1);
    o.lease = absl::ZeroDuration();  // no thread: Renew() by hand
    NodeRun run;
    run.ledger = Unwrap(ReplayLedger::Open(stores_.nonces.get(), o, start));
    EXPECT_TRUE(run.ledger->Renew(start + absl::Minutes(10)).ok());  // covers every test time
    AuthorizerOptions a = Harness::DefaultOptions();
    a.ledger = run.ledger.get();
    run.harness = std::make_unique<Harness>(OneNode(), std::vector<Rule>{}, a);
    return run;
  }

  // The previous run "crashed": its ledger is dropped without the clean-stop shrink (no thread
  // was started, so the destructor writes nothing).
  store::Stores stores_;
};

TEST_F(ReplayLedgerTest, AFirstStartRefusesNothing) {
  NodeRun run = Start(kNow);
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519), "node-a", kNow - absl::Seconds(5));

  EXPECT_TRUE(run.harness->Authorize(call.ToMd(), {}, kNow).status.ok());
}

TEST_F(ReplayLedgerTest, ACallAcceptedBeforeACrashIsRefusedAfterTheRestart) {
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519), "node-a", kNow);
  {
    NodeRun first = Start(kNow - absl::Seconds(30));
    ASSERT_TRUE(first.harness->Authorize(call.ToMd(), {}, kNow).status.ok());
  }
  NodeRun second = Start(kNow + absl::Seconds(2));

  Decision d = second.harness->Authorize(call.ToMd(), {}, kNow + absl::Seconds(3));

  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(d.rejection, Rejection::kSignatureSkew);
  EXPECT_EQ(d.status.error_message(),
            "signature: timestamp before this node restarted, sign again");
}

TEST_F(ReplayLedgerTest, AFreshCallAfterTheFloorIsAccepted) {
  { NodeRun first = Start(kNow - absl::Seconds(30)); }
  NodeRun second = Start(kNow);
  // The first run's lease reached kNow - 30 s + 10 min; the floor is one margin later.
  const absl::Time after_floor = kNow - absl::Seconds(30) + absl::Minutes(10) + absl::Seconds(2);
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519), "node-a", after_floor);

  EXPECT_TRUE(second.harness->Authorize(call.ToMd(), {}, after_floor).status.ok());
}

TEST_F(ReplayLedgerTest, ACallDatedAheadIsRecordedAndRefusedAsAReplayAfterTheRestart) {
  // Signed by a clock 50 s ahead: after a restart 5 s later it is still past the floor.
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519), "node-a", kNow + absl::Seconds(50));
  {
    NodeRun first = Start(kNow - absl::Seconds(30));
    ASSERT_TRUE(first.harness->Authorize(call.ToMd(), {}, kNow).status.ok());
    EXPECT_EQ(Unwrap(stores_.nonces->Live(kNow)).size(), 1u);
  }
  // A quick restart whose floor (old lease end + margin) is before the call's timestamp.
  ASSERT_TRUE(stores_.nonces->SetAliveUntil(kNow + absl::Seconds(1)).ok());
  NodeRun second = Start(kNow + absl::Seconds(5));

  Decision d = second.harness->Authorize(call.ToMd(), {}, kNow + absl::Seconds(6));

  EXPECT_EQ(d.rejection, Rejection::kSignatureReplay);
  EXPECT_EQ(d.status.error_message(), "signature: nonce already used (replay)");
}

TEST_F(ReplayLedgerTest, ACallInStepWithTheClockIsNotWrittenToTheStore) {
  NodeRun run = Start(kNow - absl::Seconds(30));
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519), "node-a", kNow);

  ASSERT_TRUE(run.harness->Authorize(call.ToMd(), {}, kNow + absl::Milliseconds(3)).status.ok());

  EXPECT_TRUE(Unwrap(stores_.nonces->Live(kNow)).empty());
}

TEST_F(ReplayLedgerTest, SignedCallsFailClosedWhenTheLeaseHasRunOut) {
  NodeRun run = Start(kNow - absl::Seconds(30));
  const absl::Time late = kNow + absl::Hours(1);  // past the 10-minute lease
  SignedCall call = SignCall(*SignerFor(Algorithm::kEd25519), "node-a", late);

  Decision d = run.harness->Authorize(call.ToMd(), {}, late);

  EXPECT_EQ(d.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(d.rejection, Rejection::kReplayLedgerUnavailable);
}

}  // namespace
}  // namespace nodegate::auth
