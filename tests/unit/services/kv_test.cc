#include "services/kv.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testlib/auth.h"
#include "testlib/rpc_calls.h"
#include "testlib/stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::services {
namespace {

using ::nodegate::testlib::Call;
using ::nodegate::testlib::CallBuffer;
using ::nodegate::testlib::MakePrincipal;
using ::nodegate::testlib::OpenStores;
using ::nodegate::testlib::TruncatedMessage;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace nodegate::v1;  // NOLINT(google-build-using-namespace): the request/response types

constexpr char kGet[] = "/nodegate.v1.KeyValue/Get";
constexpr char kSet[] = "/nodegate.v1.KeyValue/Set";
constexpr char kDelete[] = "/nodegate.v1.KeyValue/Delete";
constexpr char kExists[] = "/nodegate.v1.KeyValue/Exists";
constexpr char kKeys[] = "/nodegate.v1.KeyValue/Keys";

class KeyValueServiceTest : public ::testing::Test {
 protected:
  ::nodegate::testlib::ScopedTempDir dir_;  // first: removed after the stores close
  void SetUp() override {
    stores_ = OpenStores(dir_);
    kv_ = std::move(stores_.kv);
    service_ = std::make_unique<KeyValueService>(kv_);
    service_->Register(table_);
  }

  absl::Status Set(const std::string& key, const std::string& value,
                   const std::string& content_type = "") {
    SetRequest req;
    req.set_key(key);
    req.set_value(value);
    req.set_content_type(content_type);
    SetResponse resp;
    return Call(table_, kSet, req, &resp, caller_);
  }
  absl::StatusOr<GetResponse> Get(const std::string& key) {
    GetRequest req;
    req.set_key(key);
    GetResponse resp;
    if (absl::Status s = Call(table_, kGet, req, &resp, caller_); !s.ok()) return s;
    return resp;
  }
  absl::Status Delete(const std::string& key) {
    DeleteRequest req;
    req.set_key(key);
    DeleteResponse resp;
    return Call(table_, kDelete, req, &resp, caller_);
  }
  absl::StatusOr<bool> Exists(const std::string& key) {
    ExistsRequest req;
    req.set_key(key);
    ExistsResponse resp;
    if (absl::Status s = Call(table_, kExists, req, &resp, caller_); !s.ok()) return s;
    return resp.exists();
  }
  absl::StatusOr<KeysResponse> Keys(const std::string& prefix, int page_size,
                                    const std::string& page_token = "") {
    KeysRequest req;
    req.set_prefix(prefix);
    req.set_page_size(page_size);
    req.set_page_token(page_token);
    KeysResponse resp;
    if (absl::Status s = Call(table_, kKeys, req, &resp, caller_); !s.ok()) return s;
    return resp;
  }

  const auth::Principal caller_ = MakePrincipal(auth::Principal::Kind::kUser, "alice", {"kv"});
  store::Stores stores_;
  std::shared_ptr<store::KvStore> kv_;
  std::unique_ptr<KeyValueService> service_;
  rpc::MethodTable table_;
};

TEST_F(KeyValueServiceTest, SetThenGetReturnsValueContentTypeAndTime) {
  const int64_t before = absl::ToUnixMillis(absl::Now());
  ASSERT_TRUE(Set("greeting", "hello", "text/plain").ok());

  absl::StatusOr<GetResponse> got = Get("greeting");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), "hello");
  EXPECT_EQ(got->content_type(), "text/plain");
  EXPECT_GE(got->updated_unix_ms(), before);
  EXPECT_LE(got->updated_unix_ms(), absl::ToUnixMillis(absl::Now()));
}

TEST_F(KeyValueServiceTest, SetWritesThroughToTheStore) {
  ASSERT_TRUE(Set("k", std::string("\0\xff", 2)).ok());
  absl::StatusOr<store::KvEntry> e = kv_->Get("k");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->value, std::string("\0\xff", 2));
}

TEST_F(KeyValueServiceTest, SetOverwrites) {
  ASSERT_TRUE(Set("k", "one", "a").ok());
  ASSERT_TRUE(Set("k", "two", "b").ok());
  absl::StatusOr<GetResponse> got = Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), "two");
  EXPECT_EQ(got->content_type(), "b");
}

TEST_F(KeyValueServiceTest, MissingKeyIsNotFound) {
  absl::StatusOr<GetResponse> got = Get("nope");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(), "key not found");

  absl::Status deleted = Delete("nope");
  EXPECT_EQ(deleted.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(deleted.message(), "key not found");
}

TEST_F(KeyValueServiceTest, ExistsAnswersBothWays) {
  ASSERT_TRUE(Set("here", "v").ok());
  EXPECT_EQ(Exists("here").value_or(false), true);
  EXPECT_EQ(Exists("gone").value_or(true), false);
}

TEST_F(KeyValueServiceTest, DeleteRemovesTheKey) {
  ASSERT_TRUE(Set("k", "v").ok());
  ASSERT_TRUE(Delete("k").ok());
  EXPECT_EQ(Exists("k").value_or(true), false);
  EXPECT_EQ(Get("k").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(KeyValueServiceTest, EmptyKeyIsInvalidArgumentForEveryKeyedMethod) {
  const absl::Status want = absl::InvalidArgumentError("key: must not be empty");
  EXPECT_EQ(Set("", "v"), want);
  EXPECT_EQ(Get("").status(), want);
  EXPECT_EQ(Delete(""), want);
  EXPECT_EQ(Exists("").status(), want);
  EXPECT_THAT(kv_->Keys("", 0, "")->keys, IsEmpty());  // the refused Set wrote nothing
}

TEST_F(KeyValueServiceTest, KeysPagesThroughAPrefixInOrder) {
  for (const char* k : {"job/3", "job/1", "other/1", "job/5", "job/2", "job/4"}) {
    ASSERT_TRUE(Set(k, "v").ok());
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<KeysResponse> page = Keys("job/", 2, token);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->keys_size(), 2);
    seen.insert(seen.end(), page->keys().begin(), page->keys().end());
    token = page->next_page_token();
    ASSERT_LT(++pages, 10) << "paging does not end";
  } while (!token.empty());
  EXPECT_THAT(seen, ElementsAre("job/1", "job/2", "job/3", "job/4", "job/5"));
  EXPECT_GE(pages, 3);
}

TEST_F(KeyValueServiceTest, KeysWithoutPrefixListsEverything) {
  ASSERT_TRUE(Set("b", "v").ok());
  ASSERT_TRUE(Set("a", "v").ok());
  absl::StatusOr<KeysResponse> page = Keys("", 0);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->keys(), ElementsAre("a", "b"));
  EXPECT_EQ(page->next_page_token(), "");
}

TEST_F(KeyValueServiceTest, NegativePageSizeIsTheStoresInvalidArgument) {
  EXPECT_EQ(Keys("", -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KeyValueServiceTest, RequestThatIsNotAMessageIsInvalidArgument) {
  SetResponse resp;
  absl::Status s = CallBuffer(table_, kSet, TruncatedMessage(), &resp, caller_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("nodegate.v1.SetRequest"));
  EXPECT_THAT(kv_->Keys("", 0, "")->keys, IsEmpty());
}

}  // namespace
}  // namespace nodegate::services
