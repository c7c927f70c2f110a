#include "auth/policy.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nodegate/v1/identity.pb.h"
#include "nodegate/v1/registry.pb.h"
#include "testlib/auth.h"

namespace nodegate::auth {
namespace {

using ::nodegate::testlib::MakeRule;
using ::nodegate::testlib::PublicRule;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The generated descriptors register themselves only when their object file is linked: name a
// message of each file the tests read so that the static library member is pulled in.
const bool kDescriptorsLinked = nodegate::v1::WhoAmIRequest::descriptor() != nullptr &&
                                nodegate::v1::GetNodeRequest::descriptor() != nullptr;

std::shared_ptr<const Policy> Build(std::vector<Rule> config, std::vector<Rule> proto = {}) {
  absl::StatusOr<std::shared_ptr<const Policy>> p =
      Policy::Build(std::move(config), std::move(proto));
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

Rule ProtoRule(std::string pattern, std::vector<std::string> roles) {
  Rule r = MakeRule(std::move(pattern), 0, std::move(roles));
  r.source = "proto";
  return r;
}

// Resolution order.

TEST(PolicyResolveTest, ConfigExactRuleWinsOverConfigWildcard) {
  auto p =
      Build({MakeRule("/api.DiceService/RollDie", kToken), MakeRule("/api.DiceService/*", kMtls)});
  const Rule& r = p->Resolve("/api.DiceService/RollDie");
  EXPECT_EQ(r.pattern, "/api.DiceService/RollDie");
  EXPECT_EQ(r.authenticators, kToken);
  EXPECT_EQ(r.source, "config");
}

TEST(PolicyResolveTest, ConfigWildcardCoversOtherMethodsOfTheService) {
  auto p =
      Build({MakeRule("/api.DiceService/RollDie", kToken), MakeRule("/api.DiceService/*", kMtls)});
  EXPECT_EQ(p->Resolve("/api.DiceService/Other").pattern, "/api.DiceService/*");
}

TEST(PolicyResolveTest, ConfigWildcardWinsOverProtoOption) {
  auto p = Build({MakeRule("/api.DiceService/*", kMtls)},
                 {ProtoRule("/api.DiceService/RollDie", {"dice"})});
  EXPECT_EQ(p->Resolve("/api.DiceService/RollDie").source, "config");
}

TEST(PolicyResolveTest, ProtoOptionWinsOverDefault) {
  auto p = Build({}, {ProtoRule("/api.DiceService/RollDie", {"dice"})});
  const Rule& r = p->Resolve("/api.DiceService/RollDie");
  EXPECT_EQ(r.source, "proto");
  EXPECT_THAT(r.roles, ::testing::ElementsAre("dice"));
}

TEST(PolicyResolveTest, ProtoOptionWinsOverBuiltin) {
  auto p = Build({}, {ProtoRule("/grpc.health.v1.Health/Check", {"ops"})});
  EXPECT_EQ(p->Resolve("/grpc.health.v1.Health/Check").source, "proto");
}

TEST(PolicyResolveTest, HealthIsPublicByBuiltinRule) {
  auto p = Build({});
  const Rule& r = p->Resolve("/grpc.health.v1.Health/Check");
  EXPECT_TRUE(r.is_public);
  EXPECT_EQ(r.source, "builtin");
  EXPECT_TRUE(p->Resolve("/grpc.health.v1.Health/Watch").is_public);
}

TEST(PolicyResolveTest, ConfigCanCloseTheHealthService) {
  auto p = Build({MakeRule("/grpc.health.v1.Health/*", kMtls)});
  EXPECT_FALSE(p->Resolve("/grpc.health.v1.Health/Check").is_public);
}

TEST(PolicyResolveTest, UnlistedMethodGetsTheDefaultWhichIsNotPublic) {
  auto p = Build({MakeRule("/api.DiceService/*", kMtls)});
  const Rule& r = p->Resolve("/other.Service/Method");
  EXPECT_EQ(r.source, "default");
  EXPECT_FALSE(r.is_public);
  EXPECT_EQ(r.authenticators, 0u);
  EXPECT_THAT(r.roles, IsEmpty());
}

TEST(PolicyResolveTest, MalformedPathsGetTheDefault) {
  auto p = Build({MakeRule("/api.DiceService/*", kMtls)});
  for (const std::string& m :
       std::vector<std::string>{"", "/", "api.DiceService/RollDie", "/api.DiceService", "//x"}) {
    EXPECT_EQ(p->Resolve(m).source, "default") << m;
  }
}

TEST(PolicyBuildTest, MarksConfigRulesAsConfigWhateverTheySay) {
  Rule r = MakeRule("/api.DiceService/RollDie");
  r.source = "proto";
  auto p = Build({r});
  EXPECT_EQ(p->Resolve("/api.DiceService/RollDie").source, "config");
}

TEST(PolicyBuildTest, RefusesTwoConfigRulesForOnePattern) {
  absl::StatusOr<std::shared_ptr<const Policy>> p =
      Policy::Build({MakeRule("/a.S/*", kMtls), MakeRule("/a.S/*", kToken)}, {});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("two config rules for /a.S/*"));
}

TEST(PolicyBuildTest, RefusesAnInvalidConfigRule) {
  EXPECT_EQ(Policy::Build({MakeRule("not-a-method")}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ValidateRule.

TEST(ValidateRuleTest, AcceptsExactAndWildcardPatterns) {
  EXPECT_TRUE(ValidateRule(MakeRule("/api.DiceService/RollDie")).ok());
  EXPECT_TRUE(ValidateRule(MakeRule("/api.DiceService/*", kMtls | kToken, {"ops"})).ok());
  EXPECT_TRUE(ValidateRule(PublicRule("/grpc.health.v1.Health/*")).ok());
}

TEST(ValidateRuleTest, RefusesMalformedPatternsNamingTheExpectedShape) {
  for (const std::string& p :
       std::vector<std::string>{"", "/", "api.S/M", "/api.S", "/api.S/", "//M", "/api S/M",
                                "/api.S/M.x", "/api.S/M/x", "/api.S/*x", "*"}) {
    absl::Status s = ValidateRule(MakeRule(p));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << p;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("is not \"/pkg.Service/Method\" or \"/pkg.Service/*\""))
        << p;
  }
}

TEST(ValidateRuleTest, RefusesPublicWithRoles) {
  Rule r = PublicRule("/a.S/M");
  r.roles = {"admin"};
  absl::Status s = ValidateRule(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("public = true excludes authenticators and roles"));
}

TEST(ValidateRuleTest, RefusesPublicWithAuthenticators) {
  Rule r = PublicRule("/a.S/M");
  r.authenticators = kMtls;
  EXPECT_EQ(ValidateRule(r).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateRuleTest, RefusesBadRoleNames) {
  for (const std::string& role : std::vector<std::string>{"", "a,b", "a b", std::string(65, 'r')}) {
    absl::Status s = ValidateRule(MakeRule("/a.S/M", 0, {role}));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << role;
    EXPECT_THAT(std::string(s.message()), HasSubstr("bad role")) << role;
  }
}

// Rules from (nodegate.v1.auth).

TEST(RulesFromProtoOptionsTest, ReadsTheIdentityService) {
  ASSERT_TRUE(kDescriptorsLinked);
  absl::StatusOr<std::vector<Rule>> rules = RulesFromProtoOptions({"nodegate.v1.Identity"});
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_EQ(rules->size(), 2u);
  const Rule& who = (*rules)[0];
  EXPECT_EQ(who.pattern, "/nodegate.v1.Identity/WhoAmI");
  EXPECT_FALSE(who.is_public);
  EXPECT_EQ(who.authenticators, 0u);
  EXPECT_THAT(who.roles, IsEmpty());
  EXPECT_EQ(who.source, "proto");
  const Rule& ping = (*rules)[1];
  EXPECT_EQ(ping.pattern, "/nodegate.v1.Identity/Ping");
  EXPECT_TRUE(ping.is_public);
}

TEST(RulesFromProtoOptionsTest, ReadsAuthenticatorsAndRoles) {
  ASSERT_TRUE(kDescriptorsLinked);
  absl::StatusOr<std::vector<Rule>> rules = RulesFromProtoOptions({"nodegate.v1.NodeRegistry"});
  ASSERT_TRUE(rules.ok()) << rules.status();
  auto find = [&](std::string_view m) -> const Rule* {
    for (const Rule& r : *rules) {
      if (r.pattern == m) return &r;
    }
    return nullptr;
  };
  const Rule* upload = find("/nodegate.v1.NodeRegistry/UploadCert");
  ASSERT_NE(upload, nullptr);
  EXPECT_EQ(upload->authenticators, kMtls | kSignature);
  const Rule* get = find("/nodegate.v1.NodeRegistry/GetNode");
  ASSERT_NE(get, nullptr);
  EXPECT_THAT(get->roles, ::testing::ElementsAre("admin"));
}

TEST(RulesFromProtoOptionsTest, SkipsUnknownServices) {
  absl::StatusOr<std::vector<Rule>> rules = RulesFromProtoOptions({"no.such.Service"});
  ASSERT_TRUE(rules.ok());
  EXPECT_THAT(*rules, IsEmpty());
}

TEST(PolicyTableTest, ListsEveryMethodConfiguredPatternAndBuiltinRule) {
  ASSERT_TRUE(kDescriptorsLinked);
  auto proto = RulesFromProtoOptions({"nodegate.v1.Identity"});
  ASSERT_TRUE(proto.ok());
  auto p = Build({MakeRule("/api.DiceService/*", kMtls)}, *proto);
  std::vector<Policy::Row> rows = p->Table({"nodegate.v1.Identity"});
  std::vector<std::string> methods;
  for (const Policy::Row& row : rows) {
    ASSERT_NE(row.rule, nullptr) << row.method;
    methods.push_back(row.method);
  }
  EXPECT_THAT(methods, ::testing::UnorderedElementsAre(
                           "/nodegate.v1.Identity/WhoAmI", "/nodegate.v1.Identity/Ping",
                           "/api.DiceService/*", "/grpc.health.v1.Health/*"));
  for (const Policy::Row& row : rows) {
    if (row.method == "/nodegate.v1.Identity/Ping") {
      EXPECT_TRUE(row.rule->is_public);
    } else if (row.method == "/nodegate.v1.Identity/WhoAmI") {
      EXPECT_EQ(row.rule->source, "proto");
    } else if (row.method == "/api.DiceService/*") {
      EXPECT_EQ(row.rule->source, "config");
    } else if (row.method == "/grpc.health.v1.Health/*") {
      EXPECT_EQ(row.rule->source, "builtin");
    }
  }
}

TEST(PolicyTableTest, ShowsTheConfigRuleThatOverridesAProtoOption) {
  ASSERT_TRUE(kDescriptorsLinked);
  auto proto = RulesFromProtoOptions({"nodegate.v1.Identity"});
  ASSERT_TRUE(proto.ok());
  auto p = Build({MakeRule("/nodegate.v1.Identity/Ping", kMtls)}, *proto);
  for (const Policy::Row& row : p->Table({"nodegate.v1.Identity"})) {
    if (row.method == "/nodegate.v1.Identity/Ping") {
      EXPECT_FALSE(row.rule->is_public);
      EXPECT_EQ(row.rule->source, "config");
    }
  }
}

}  // namespace
}  // namespace nodegate::auth
