// The services as the server core sees them: which names each one adds to an rpc::MethodTable, and
// where each handler is to run.
#include "rpc/method_table.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/dice.h"
#include "services/identity.h"
#include "services/kv.h"
#include "services/port.h"
#include "services/registry.h"
#include "testlib/stores.h"
#include "testlib/temp_dir.h"

namespace nodegate::services {
namespace {

using ::nodegate::testlib::OpenStores;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Every service of the fixture, registered into one table (in an order that is not sorted).
class ServiceTableTest : public ::testing::Test {
 protected:
  ::nodegate::testlib::ScopedTempDir dir_;  // first: removed after the stores close
  void SetUp() override {
    stores_ = OpenStores(dir_);
    kv_ = std::make_unique<KeyValueService>(std::move(stores_.kv));
    ports_ = std::make_unique<PortService>(std::move(stores_.leases), PortRange());
    // The registry's handlers never run here, so it needs neither a CA nor a credential cache.
    registry_ = std::make_unique<RegistryService>(RegistryOptions(), std::move(stores_.nodes),
                                                  std::move(stores_.credentials), nullptr, nullptr);
  }

  store::Stores stores_;
  DiceService dice_;
  IdentityService identity_{"node-1"};
  std::unique_ptr<KeyValueService> kv_;
  std::unique_ptr<PortService> ports_;
  std::unique_ptr<RegistryService> registry_;
};

TEST(MethodTableTest, EmptyTableFindsNothing) {
  rpc::MethodTable table;
  EXPECT_EQ(table.Find("/api.DiceService/RollDie"), nullptr);
  EXPECT_THAT(table.Names(), IsEmpty());
}

TEST_F(ServiceTableTest, FindOfAnUnknownMethodIsNull) {
  rpc::MethodTable table;
  kv_->Register(table);
  EXPECT_NE(table.Find("/nodegate.v1.KeyValue/Get"), nullptr);
  EXPECT_EQ(table.Find("/nodegate.v1.KeyValue/Nope"), nullptr);
  EXPECT_EQ(table.Find("nodegate.v1.KeyValue/Get"), nullptr);   // no leading slash
  EXPECT_EQ(table.Find("/nodegate.v1.KeyValue/get"), nullptr);  // names are case-sensitive
  EXPECT_EQ(table.Find("/nodegate.v1.KeyValue/"), nullptr);
  EXPECT_EQ(table.Find(""), nullptr);
}

TEST_F(ServiceTableTest, FoundMethodKnowsItsName) {
  rpc::MethodTable table;
  kv_->Register(table);
  const rpc::MethodTable::Method* m = table.Find("/nodegate.v1.KeyValue/Keys");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->name, "/nodegate.v1.KeyValue/Keys");
}

TEST_F(ServiceTableTest, EachServiceRegistersExactlyItsMethods) {
  rpc::MethodTable dice;
  dice_.Register(dice);
  EXPECT_THAT(dice.Names(), ElementsAre("/api.DiceService/RollDie"));

  rpc::MethodTable identity;
  identity_.Register(identity);
  EXPECT_THAT(identity.Names(),
              ElementsAre("/nodegate.v1.Identity/Ping", "/nodegate.v1.Identity/WhoAmI"));

  rpc::MethodTable kv;
  kv_->Register(kv);
  EXPECT_THAT(kv.Names(), ElementsAre("/nodegate.v1.KeyValue/Delete",
                                      "/nodegate.v1.KeyValue/Exists", "/nodegate.v1.KeyValue/Get",
                                      "/nodegate.v1.KeyValue/Keys", "/nodegate.v1.KeyValue/Set"));

  rpc::MethodTable ports;
  ports_->Register(ports);
  EXPECT_THAT(ports.Names(), ElementsAre("/nodegate.v1.PortService/GetFreePort",
                                         "/nodegate.v1.PortService/ReleasePort"));

  rpc::MethodTable registry;
  registry_->Register(registry);
  EXPECT_THAT(
      registry.Names(),
      ElementsAre("/nodegate.v1.NodeRegistry/AddNode", "/nodegate.v1.NodeRegistry/DisableNode",
                  "/nodegate.v1.NodeRegistry/GetNode", "/nodegate.v1.NodeRegistry/GetTrustBundle",
                  "/nodegate.v1.NodeRegistry/KeypairSync", "/nodegate.v1.NodeRegistry/ListNodes",
                  "/nodegate.v1.NodeRegistry/RemoveNode", "/nodegate.v1.NodeRegistry/UploadCert"));
}

TEST_F(ServiceTableTest, NamesOfAllServicesAreSorted) {
  rpc::MethodTable table;
  registry_->Register(table);
  kv_->Register(table);
  dice_.Register(table);
  ports_->Register(table);
  identity_.Register(table);

  std::vector<std::string> names = table.Names();
  EXPECT_EQ(names.size(), 1u + 2u + 5u + 2u + 8u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.front(), "/api.DiceService/RollDie");
  EXPECT_EQ(names.back(), "/nodegate.v1.PortService/ReleasePort");
}

TEST_F(ServiceTableTest, EveryServiceMethodIsUnary) {
  rpc::MethodTable table;
  registry_->Register(table);
  kv_->Register(table);
  dice_.Register(table);
  ports_->Register(table);
  identity_.Register(table);
  for (const std::string& name : table.Names()) {
    const rpc::MethodTable::Method* m = table.Find(name);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_TRUE(static_cast<bool>(m->unary)) << name;
    EXPECT_FALSE(static_cast<bool>(m->stream)) << name;
  }
}

TEST_F(ServiceTableTest, StoreMethodsBlockAndInMemoryMethodsRunInline) {
  rpc::MethodTable table;
  registry_->Register(table);
  kv_->Register(table);
  dice_.Register(table);
  ports_->Register(table);
  identity_.Register(table);

  const std::vector<std::string> inline_methods = {
      "/api.DiceService/RollDie", "/nodegate.v1.Identity/WhoAmI", "/nodegate.v1.Identity/Ping",
      "/nodegate.v1.NodeRegistry/GetTrustBundle"};
  for (const std::string& name : table.Names()) {
    const bool is_inline =
        std::find(inline_methods.begin(), inline_methods.end(), name) != inline_methods.end();
    EXPECT_EQ(table.Find(name)->execution,
              is_inline ? rpc::Execution::kInline : rpc::Execution::kBlocking)
        << name;
  }
}

}  // namespace
}  // namespace nodegate::services
