#include "store/lease_store.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/postgres/postgres_stores.h"
#include "store/sqlite/sqlite_lease_store.h"
#include "testlib/store_backends.h"

namespace nodegate::store {
namespace {

using ::testing::IsEmpty;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
const absl::Duration kTtl = absl::Minutes(10);
constexpr char kOwner[] = "node:worker-1";

bool AnyPort(int) { return true; }

// Every case runs on SQLite and on PostgreSQL (testlib/store_backends.h).
class LeaseStoreTest : public ::nodegate::testlib::StoreBackendTest {
 protected:
  void SetUp() override {
    StoreBackendTest::SetUp();
    if (HasFatalFailure()) return;
    store_ = Open().leases;
  }
  std::unique_ptr<LeaseStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, LeaseStoreTest, ::nodegate::testlib::AllStoreBackends(),
                         ::nodegate::testlib::StoreBackendName);

TEST_P(LeaseStoreTest, FirstJobGetsLowestPort) {
  absl::StatusOr<int> port = store_->Acquire("job-a", kOwner, 7000, 7009, kTtl, kNow, AnyPort);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 7000);
}

TEST_P(LeaseStoreTest, SameJobGetsSamePortBackRenewed) {
  int first = *store_->Acquire("job-a", kOwner, 7000, 7009, kTtl, kNow, AnyPort);
  // The job's port is in use by the job itself, so not bindable: it must still get it back.
  absl::StatusOr<int> again = store_->Acquire("job-a", kOwner, 7000, 7009, kTtl,
                                              kNow + absl::Minutes(5), [](int) { return false; });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, first);
  EXPECT_EQ(store_->Get("job-a")->expires_at, kNow + absl::Minutes(5) + kTtl);
}

TEST_P(LeaseStoreTest, DifferentJobsGetDifferentPorts) {
  EXPECT_EQ(*store_->Acquire("a", kOwner, 7000, 7009, kTtl, kNow, AnyPort), 7000);
  EXPECT_EQ(*store_->Acquire("b", kOwner, 7000, 7009, kTtl, kNow, AnyPort), 7001);
}

TEST_P(LeaseStoreTest, ExhaustedRangeIsResourceExhausted) {
  ASSERT_TRUE(store_->Acquire("a", kOwner, 7000, 7001, kTtl, kNow, AnyPort).ok());
  ASSERT_TRUE(store_->Acquire("b", kOwner, 7000, 7001, kTtl, kNow, AnyPort).ok());
  EXPECT_EQ(store_->Acquire("c", kOwner, 7000, 7001, kTtl, kNow, AnyPort).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store_->Get("c").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(LeaseStoreTest, ExpiredLeaseIsReusedByAnotherJob) {
  ASSERT_EQ(*store_->Acquire("a", kOwner, 7000, 7000, kTtl, kNow, AnyPort), 7000);
  EXPECT_EQ(store_->Acquire("b", kOwner, 7000, 7000, kTtl, kNow + kTtl - absl::Seconds(1), AnyPort)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);

  absl::StatusOr<int> port = store_->Acquire("b", kOwner, 7000, 7000, kTtl, kNow + kTtl, AnyPort);

  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 7000);
  EXPECT_EQ(store_->Get("a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("b")->port, 7000);
}

TEST_P(LeaseStoreTest, ExpiredOwnLeaseIsNotSimplyRenewed) {
  ASSERT_EQ(*store_->Acquire("a", kOwner, 7000, 7001, kTtl, kNow, AnyPort), 7000);
  // After expiry the job is treated as new: its old port must be bindable again to be chosen.
  absl::StatusOr<int> port =
      store_->Acquire("a", kOwner, 7000, 7001, kTtl, kNow + kTtl, [](int p) { return p != 7000; });
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 7001);
}

TEST_P(LeaseStoreTest, BindableCallbackIsHonoured) {
  std::vector<int> asked;
  absl::StatusOr<int> port = store_->Acquire("a", kOwner, 7000, 7009, kTtl, kNow, [&](int p) {
    asked.push_back(p);
    return p == 7003;
  });
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 7003);
  EXPECT_EQ(asked, (std::vector<int>{7000, 7001, 7002, 7003}));
}

TEST_P(LeaseStoreTest, LeasedPortsAreNotOfferedToTheCallback) {
  ASSERT_EQ(*store_->Acquire("a", kOwner, 7000, 7009, kTtl, kNow, AnyPort), 7000);
  std::vector<int> asked;
  ASSERT_TRUE(store_
                  ->Acquire("b", kOwner, 7000, 7009, kTtl, kNow,
                            [&](int p) {
                              asked.push_back(p);
                              return true;
                            })
                  .ok());
  EXPECT_EQ(asked, std::vector<int>{7001});
}

TEST_P(LeaseStoreTest, NothingBindableIsResourceExhausted) {
  EXPECT_EQ(store_->Acquire("a", kOwner, 7000, 7009, kTtl, kNow, [](int) { return false; })
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_P(LeaseStoreTest, ThrowingCallbackIsInternalAndLeavesNoLease) {
  absl::StatusOr<int> port = store_->Acquire("a", kOwner, 7000, 7009, kTtl, kNow,
                                             [](int) -> bool { throw std::runtime_error("boom"); });
  EXPECT_EQ(port.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(*store_->List(), IsEmpty());
  EXPECT_TRUE(store_->Acquire("a", kOwner, 7000, 7009, kTtl, kNow, AnyPort).ok());
}

TEST_P(LeaseStoreTest, OwnLeaseOutsideNewRangeIsReplaced) {
  ASSERT_EQ(*store_->Acquire("a", kOwner, 7000, 7009, kTtl, kNow, AnyPort), 7000);
  EXPECT_EQ(*store_->Acquire("a", kOwner, 8000, 8009, kTtl, kNow, AnyPort), 8000);
  std::vector<PortLease> all = *store_->List();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].port, 8000);
}

TEST_P(LeaseStoreTest, BadArgumentsAreInvalidArgument) {
  auto code = [&](const std::string& job, int lo, int hi, absl::Duration ttl) {
    return store_->Acquire(job, kOwner, lo, hi, ttl, kNow, AnyPort).status().code();
  };
  EXPECT_EQ(code("", 7000, 7001, kTtl), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("a", 0, 7001, kTtl), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("a", 7001, 7000, kTtl), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("a", 7000, 65536, kTtl), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("a", 7000, 7001, absl::ZeroDuration()), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Acquire("a", kOwner, 7000, 7001, kTtl, kNow, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(LeaseStoreTest, ReleaseFreesThePort) {
  ASSERT_EQ(*store_->Acquire("a", kOwner, 7000, 7000, kTtl, kNow, AnyPort), 7000);
  ASSERT_TRUE(store_->Release("a", kOwner, kNow).ok());
  EXPECT_EQ(*store_->Acquire("b", kOwner, 7000, 7000, kTtl, kNow, AnyPort), 7000);
}

TEST_P(LeaseStoreTest, ReleaseOrGetUnknownJobIsNotFound) {
  EXPECT_EQ(store_->Release("ghost", kOwner, kNow).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("ghost").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(LeaseStoreTest, GetReportsTheLease) {
  ASSERT_TRUE(store_->Acquire("a", kOwner, 7000, 7009, kTtl, kNow, AnyPort).ok());
  absl::StatusOr<PortLease> lease = store_->Get("a");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->job_code, "a");
  EXPECT_EQ(lease->port, 7000);
  EXPECT_EQ(lease->acquired_at, kNow);
  EXPECT_EQ(lease->expires_at, kNow + kTtl);
}

TEST_P(LeaseStoreTest, ExpireBeforeRemovesOnlyExpiredLeases) {
  ASSERT_TRUE(store_->Acquire("old", kOwner, 7000, 7009, absl::Minutes(1), kNow, AnyPort).ok());
  ASSERT_TRUE(store_->Acquire("new", kOwner, 7000, 7009, absl::Minutes(30), kNow, AnyPort).ok());

  absl::StatusOr<int> removed = store_->ExpireBefore(kNow + absl::Minutes(1));

  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1);
  std::vector<PortLease> all = *store_->List();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].job_code, "new");
}

TEST_P(LeaseStoreTest, LeasesSurviveReopen) {
  ASSERT_EQ(*store_->Acquire("a", kOwner, 7000, 7009, kTtl, kNow, AnyPort), 7000);
  store_.reset();
  std::unique_ptr<LeaseStore> reopened = Open().leases;
  EXPECT_EQ(*reopened->Acquire("a", kOwner, 7000, 7009, kTtl, kNow, [](int) { return false; }),
            7000);
  EXPECT_EQ(*reopened->Acquire("b", kOwner, 7000, 7009, kTtl, kNow, AnyPort), 7001);
}

TEST_P(LeaseStoreTest, ConcurrentAcquiresOnTwoStoreObjectsNeverShareAPort) {
  constexpr int kThreads = 16;
  constexpr int kJobsPerThread = 12;
  constexpr int kLo = 20000;
  // Room for every job, so every Acquire must succeed.
  constexpr int kHi = kLo + kThreads * kJobsPerThread - 1;
  std::unique_ptr<LeaseStore> other = Open().leases;  // another process or replica
  std::mutex mu;
  std::map<int, std::string> owner;  // port -> job
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      LeaseStore& s = t % 2 == 0 ? *store_ : *other;
      for (int j = 0; j < kJobsPerThread; ++j) {
        std::string job = "job-" + std::to_string(t) + "-" + std::to_string(j);
        absl::StatusOr<int> port = s.Acquire(job, kOwner, kLo, kHi, kTtl, kNow, AnyPort);
        // Ask again: the same job must get the same port.
        absl::StatusOr<int> again = s.Acquire(job, kOwner, kLo, kHi, kTtl, kNow, AnyPort);
        if (!port.ok() || !again.ok() || *port != *again) {
          ++failures;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        auto [it, inserted] = owner.emplace(*port, job);
        if (!inserted) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(owner.size(), static_cast<size_t>(kThreads * kJobsPerThread));
  EXPECT_EQ(store_->List()->size(), static_cast<size_t>(kThreads * kJobsPerThread));
  // And the range is now full.
  EXPECT_EQ(other->Acquire("late", kOwner, kLo, kHi, kTtl, kNow, AnyPort).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_P(LeaseStoreTest, AnotherPrincipalCannotReleaseALiveLease) {
  ASSERT_TRUE(store_->Acquire("job-a", kOwner, 7000, 7009, kTtl, kNow, AnyPort).ok());

  absl::Status s = store_->Release("job-a", "user:mallory", kNow);

  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->Get("job-a")->owner, kOwner);
}

TEST_P(LeaseStoreTest, AnotherPrincipalCannotRenewOrMoveALiveLease) {
  ASSERT_EQ(*store_->Acquire("job-a", kOwner, 7000, 7009, kTtl, kNow, AnyPort), 7000);

  absl::StatusOr<int> taken =
      store_->Acquire("job-a", "user:mallory", 7000, 7009, kTtl, kNow + absl::Minutes(1), AnyPort);

  EXPECT_EQ(taken.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->Get("job-a")->expires_at, kNow + kTtl);
}

TEST_P(LeaseStoreTest, AnExpiredLeaseMayBeTakenByAnotherPrincipal) {
  ASSERT_EQ(*store_->Acquire("job-a", kOwner, 7000, 7009, kTtl, kNow, AnyPort), 7000);

  absl::StatusOr<int> port =
      store_->Acquire("job-a", "node:worker-2", 7000, 7009, kTtl, kNow + kTtl, AnyPort);

  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(store_->Get("job-a")->owner, "node:worker-2");
}

TEST_P(LeaseStoreTest, ALeaseTakenThroughOneInstanceIsHonouredByAnother) {
  std::unique_ptr<LeaseStore> other = Open().leases;
  ASSERT_EQ(*store_->Acquire("job-a", kOwner, 7000, 7000, kTtl, kNow, AnyPort), 7000);

  EXPECT_EQ(other->Acquire("job-b", kOwner, 7000, 7000, kTtl, kNow, AnyPort).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(other->Release("job-a", "user:mallory", kNow).code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(other->Release("job-a", kOwner, kNow).ok());
  EXPECT_EQ(*store_->Acquire("job-b", kOwner, 7000, 7000, kTtl, kNow, AnyPort), 7000);
}

TEST(LeaseStoreFactoryTest, RefusesNullDatabase) {
  EXPECT_EQ(OpenSqliteLeaseStore(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenPostgresLeaseStore(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(LeaseStoreTest, JobCodeAndOwnerKeepAnyBytes) {
  const std::string job("job\0\xff", 5);
  const std::string owner("user:\xe9\0", 7);
  ASSERT_EQ(*store_->Acquire(job, owner, 7000, 7009, kTtl, kNow, AnyPort), 7000);
  absl::StatusOr<PortLease> lease = store_->Get(job);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->job_code, job);
  EXPECT_EQ(lease->owner, owner);
  EXPECT_EQ(store_->Release(job, "user:other", kNow).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(store_->Release(job, owner, kNow).ok());
}

}  // namespace
}  // namespace nodegate::store
