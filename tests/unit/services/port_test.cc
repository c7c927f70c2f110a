#include "services/port.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testlib/rpc_calls.h"
#include "testlib/stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::services {
namespace {

using ::nodegate::testlib::Call;
using ::nodegate::testlib::OpenStores;
using nodegate::v1::GetFreePortRequest;
using nodegate::v1::GetFreePortResponse;
using nodegate::v1::ReleasePortRequest;
using nodegate::v1::ReleasePortResponse;

constexpr char kGetFreePort[] = "/nodegate.v1.PortService/GetFreePort";
constexpr char kReleasePort[] = "/nodegate.v1.PortService/ReleasePort";

// A port the kernel just handed out as free (bound to 0, then closed): bindable right after.
int EphemeralPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class PortServiceTest : public ::testing::Test {
 protected:
  ::nodegate::testlib::ScopedTempDir dir_;  // first: removed after the stores close
  void Start(PortRange range) {
    stores_ = OpenStores(dir_);
    service_ = std::make_unique<PortService>(std::move(stores_.leases), range);
    service_->Register(table_);
  }

  absl::StatusOr<GetFreePortResponse> GetFreePort(const std::string& job) {
    GetFreePortRequest req;
    req.set_job_code(job);
    GetFreePortResponse resp;
    if (absl::Status s = Call(table_, kGetFreePort, req, &resp); !s.ok()) return s;
    return resp;
  }
  absl::Status ReleasePort(const std::string& job) {
    ReleasePortRequest req;
    req.set_job_code(job);
    ReleasePortResponse resp;
    return Call(table_, kReleasePort, req, &resp);
  }

  store::Stores stores_;
  std::unique_ptr<PortService> service_;
  rpc::MethodTable table_;
};

TEST_F(PortServiceTest, GetFreePortLeasesABindablePortInRange) {
  PortRange range;  // the production default, 20000..20999 for an hour
  Start(range);
  const int64_t before = absl::ToUnixMillis(absl::Now() + range.lease_ttl);

  absl::StatusOr<GetFreePortResponse> got = GetFreePort("job-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_GE(got->port(), range.first);
  EXPECT_LE(got->port(), range.last);
  EXPECT_TRUE(IsPortBindable(got->port()));
  EXPECT_GE(got->lease_expires_unix_ms(), before);
  EXPECT_LE(got->lease_expires_unix_ms(), absl::ToUnixMillis(absl::Now() + range.lease_ttl));
}

TEST_F(PortServiceTest, TheSameJobKeepsItsPortAndAnotherJobGetsAnother) {
  Start(PortRange());
  absl::StatusOr<GetFreePortResponse> a1 = GetFreePort("job-a");
  absl::StatusOr<GetFreePortResponse> b = GetFreePort("job-b");
  absl::StatusOr<GetFreePortResponse> a2 = GetFreePort("job-a");
  ASSERT_TRUE(a1.ok() && b.ok() && a2.ok());
  EXPECT_EQ(a1->port(), a2->port());
  EXPECT_NE(a1->port(), b->port());
}

TEST_F(PortServiceTest, ReleasePortFreesThePortForAnotherJob) {
  const int port = EphemeralPort();
  Start(PortRange{port, port, absl::Hours(1)});
  absl::StatusOr<GetFreePortResponse> a = GetFreePort("job-a");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->port(), port);

  absl::StatusOr<GetFreePortResponse> refused = GetFreePort("job-b");
  EXPECT_EQ(refused.status(),
            absl::ResourceExhaustedError("no free port left in the configured range"));

  ASSERT_TRUE(ReleasePort("job-a").ok());
  absl::StatusOr<GetFreePortResponse> b = GetFreePort("job-b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->port(), port);
}

TEST_F(PortServiceTest, ReleasingWhatAJobDoesNotHoldIsNotFound) {
  Start(PortRange());
  EXPECT_EQ(ReleasePort("never-leased").code(), absl::StatusCode::kNotFound);
}

TEST_F(PortServiceTest, MalformedJobCodeIsInvalidArgument) {
  Start(PortRange());
  for (const std::string& job :
       std::vector<std::string>{"", "has space", "slash/job", std::string(129, 'a')}) {
    EXPECT_EQ(GetFreePort(job).status(),
              absl::InvalidArgumentError("job_code: must be [A-Za-z0-9._-]{1,128}"))
        << job;
  }
}

}  // namespace
}  // namespace nodegate::services
