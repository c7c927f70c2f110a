// rpc::Server with a fleet's shared nonce ledger: a signed unary call's decision waits for its
// nonce batch off the queue thread (Authorizer::AuthorizeOrDefer) and comes back through an
// alarm. Real gRPC on loopback, real Authorizer, real SQLite store (the batch is held or failed
// by testlib::FaultyNonceStore around it).
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/dice.pb.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "auth/replay_ledger.h"
#include "auth/signature_v1.h"
#include "rpc/server.h"
#include "testlib/auth.h"
#include "testlib/keys.h"
#include "testlib/nonce_faults.h"
#include "testlib/status.h"
#include "testlib/stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::rpc {
namespace {

using ::nodegate::testlib::FaultyNonceStore;
using ::nodegate::testlib::Unwrap;

constexpr char kRoll[] = "/api.DiceService/RollDie";  // needs a signature
constexpr char kOpen[] = "/open.Svc/Ping";            // public

// One replica: a server core on 127.0.0.1:0 with one queue thread, over the shared store.
class Replica {
 public:
  explicit Replica(store::NonceStore* nonces) {
    auth::CredentialSnapshot snapshot;
    snapshot.nodes.emplace("node-a", testlib::Node("node-a", crypto::Algorithm::kEd25519));
    auto source = std::make_shared<testlib::MemorySource>();
    source->Set(std::move(snapshot));
    cache_ = Unwrap(auth::CredentialCache::Start(source, absl::ZeroDuration()));
    auth::ReplayLedger::Options lo;
    lo.shared = true;
    ledger_ = Unwrap(auth::ReplayLedger::Open(nonces, lo, absl::Now()));
    auth::AuthorizerOptions o;
    o.audience = testlib::kAudience;
    o.ledger = ledger_.get();
    std::vector<auth::Rule> rules = {testlib::MakeRule(kRoll, auth::kSignature),
                                     testlib::PublicRule("/open.Svc/*")};
    authorizer_ = std::shared_ptr<auth::Authorizer>(
        Unwrap(auth::Authorizer::New(o, Unwrap(auth::Policy::Build(rules, {})), cache_.get())));
    auto table = std::make_shared<MethodTable>();
    table->AddUnary<api::RollDieRequest, api::RollDieResponse>(
        kRoll, Execution::kInline,
        [](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse* out) {
          out->set_value(4);
          return absl::OkStatus();
        });
    table->AddUnary<api::RollDieRequest, api::RollDieResponse>(
        kOpen, Execution::kInline,
        [](const CallInfo&, const api::RollDieRequest&, api::RollDieResponse*) {
          return absl::OkStatus();
        });
    ServerOptions options;
    options.listeners.push_back(
        {"127.0.0.1:0", grpc::InsecureServerCredentials(), nullptr, "grpc", {}});
    options.threads = 1;  // a blocked queue thread would stall every other call
    server_ = Unwrap(Server::Start(options, table, authorizer_, nullptr, nullptr));
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->ports()[0]),
                                   grpc::InsecureChannelCredentials());
  }
  ~Replica() { Shutdown(); }
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  void Shutdown() {
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
  }

  // A unary call started on `cq` (Finish delivers tag `p`).
  struct Pending {
    grpc::ClientContext ctx;
    grpc::ByteBuffer response;
    grpc::Status status;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> call;
  };
  void Start(Pending& p, const std::string& method, grpc::CompletionQueue& cq,
             const testlib::SignedCall* signed_call = nullptr) {
    p.ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (signed_call != nullptr) {
      p.ctx.AddMetadata(std::string(auth::sigv1::kNodeIdHeader), signed_call->node_id);
      p.ctx.AddMetadata(std::string(auth::sigv1::kTimestampHeader), signed_call->timestamp);
      p.ctx.AddMetadata(std::string(auth::sigv1::kNonceHeader), signed_call->nonce);
      p.ctx.AddMetadata(std::string(auth::sigv1::kSignatureHeader), signed_call->signature);
    }
    grpc::GenericStub stub(channel_);
    grpc::Slice slice(api::RollDieRequest().SerializeAsString());
    grpc::ByteBuffer request(&slice, 1);
    p.call = stub.PrepareUnaryCall(&p.ctx, method, request, &cq);
    p.call->StartCall();
    p.call->Finish(&p.response, &p.status, &p);
  }
  grpc::Status Call(const std::string& method, const testlib::SignedCall* signed_call = nullptr) {
    grpc::CompletionQueue cq;
    Pending p;
    Start(p, method, cq, signed_call);
    Await(cq);
    return p.status;
  }
  static void* Await(grpc::CompletionQueue& cq) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    return tag;
  }

  auth::Authorizer& authorizer() { return *authorizer_; }

 private:
  std::unique_ptr<auth::CredentialCache> cache_;
  std::unique_ptr<auth::ReplayLedger> ledger_;
  std::shared_ptr<auth::Authorizer> authorizer_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

testlib::SignedCall Signed() {
  return testlib::SignCall(*testlib::SignerFor(crypto::Algorithm::kEd25519), "node-a", absl::Now());
}

class DeferredDecisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stores_ = testlib::OpenStores(dir_);
    auto faulty = std::make_unique<FaultyNonceStore>(std::move(stores_.nonces));
    nonces_ = faulty.get();
    stores_.nonces = std::move(faulty);
  }
  testlib::ScopedTempDir dir_;  // first: removed after the stores close
  store::Stores stores_;
  FaultyNonceStore* nonces_ = nullptr;
};

TEST_F(DeferredDecisionTest, ASignedCallRunsOnceItsNonceIsCommitted) {
  Replica a(stores_.nonces.get());
  testlib::SignedCall call = Signed();

  grpc::Status s = a.Call(kRoll, &call);

  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Unwrap(stores_.nonces->Live(absl::Now())).size(), 1u);
}

TEST_F(DeferredDecisionTest, ACallAcceptedByOneReplicaIsRefusedByAnotherOverTheWire) {
  Replica a(stores_.nonces.get());
  Replica b(stores_.nonces.get());
  testlib::SignedCall call = Signed();
  ASSERT_TRUE(a.Call(kRoll, &call).ok());

  grpc::Status replayed = b.Call(kRoll, &call);

  EXPECT_EQ(replayed.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(replayed.error_message(), "signature: nonce already used (replay)");
  EXPECT_EQ(b.authorizer().rejections(auth::Rejection::kSignatureReplay), 1u);
}

TEST_F(DeferredDecisionTest, WhileABatchIsBeingWrittenTheQueueThreadServesOtherCalls) {
  Replica a(stores_.nonces.get());
  nonces_->SetHold(true);
  grpc::CompletionQueue cq;
  Replica::Pending signed_call;
  testlib::SignedCall call = Signed();
  a.Start(signed_call, kRoll, cq, &call);
  nonces_->AwaitBatch(1);  // the signed call's nonce is in the store's hands

  grpc::Status open = a.Call(kOpen);  // the server's only queue thread answers meanwhile
  nonces_->SetHold(false);
  EXPECT_EQ(Replica::Await(cq), &signed_call);

  EXPECT_TRUE(open.ok()) << open.error_message();
  EXPECT_TRUE(signed_call.status.ok()) << signed_call.status.error_message();
}

TEST_F(DeferredDecisionTest, AFailedBatchFailsItsCallsClosed) {
  Replica a(stores_.nonces.get());
  nonces_->SetDown(true);
  testlib::SignedCall call = Signed();

  grpc::Status s = a.Call(kRoll, &call);

  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "signature: cannot record the nonce, retry later");
}

TEST_F(DeferredDecisionTest, ShutdownWaitsForACallWhoseBatchIsStillBeingWritten) {
  Replica a(stores_.nonces.get());
  nonces_->SetHold(true);
  grpc::CompletionQueue cq;
  Replica::Pending signed_call;
  testlib::SignedCall call = Signed();
  a.Start(signed_call, kRoll, cq, &call);
  nonces_->AwaitBatch(1);

  std::thread stopping([&a] { a.Shutdown(); });  // cancels the call, then waits for its batch
  nonces_->SetHold(false);
  stopping.join();
  EXPECT_EQ(Replica::Await(cq), &signed_call);

  // The decision may land before or after gRPC cancels the call; either way the call ends, and
  // neither the alarm nor the queue outlives the other.
  EXPECT_TRUE(signed_call.status.ok() ||
              signed_call.status.error_code() == grpc::StatusCode::CANCELLED ||
              signed_call.status.error_code() == grpc::StatusCode::UNAVAILABLE)
      << signed_call.status.error_code() << " " << signed_call.status.error_message();
}

}  // namespace
}  // namespace nodegate::rpc
