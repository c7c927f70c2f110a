// The sections added after the first config test file: [store], [auth] (+ signature, rule,
// forwarded), [ports], [kv], [registry], grpc.local_listen.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "server/config.h"

namespace nodegate::server {
namespace {

using ::testing::HasSubstr;

constexpr char kPath[] = "/etc/nodegate/node.toml";
constexpr char kTls[] = R"(
[tls]
cert = "node.pem"
key = "node-key.pem"
ca = "ca.pem"
)";

absl::StatusOr<NodeConfig> Parse(const std::string& extra) {
  return ParseNodeConfig(std::string(kTls) + extra, kPath);
}
std::string Error(const std::string& extra) {
  absl::StatusOr<NodeConfig> c = Parse(extra);
  return c.ok() ? "OK" : std::string(c.status().message());
}

TEST(ConfigSectionsTest, DefaultsWhenAbsent) {
  absl::StatusOr<NodeConfig> c = Parse("");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store.path, "/etc/nodegate/data/nodegate.db");
  EXPECT_EQ(c->auth.authenticators, auth::kAllAuthenticators);
  EXPECT_FALSE(c->auth.mtls_require_registered);
  EXPECT_EQ(c->auth.max_skew, absl::Seconds(60));
  EXPECT_EQ(c->auth.replay_cache_capacity, 100000u);
  EXPECT_TRUE(c->auth.rules.empty());
  EXPECT_FALSE(c->auth.forwarded.enabled);
  EXPECT_EQ(c->auth.forwarded.header, "x-forwarded-client-cert");
  EXPECT_EQ(c->ports.first, 20000);
  EXPECT_EQ(c->ports.last, 20999);
  EXPECT_EQ(c->kv.max_value_bytes, 1 << 20);
  EXPECT_TRUE(c->registry.ca_cert.empty());
  EXPECT_EQ(c->registry.key_grace, absl::Hours(24));
  EXPECT_TRUE(c->grpc.local_listen.empty());
}

TEST(ConfigSectionsTest, ReadsAuthRulesInOrder) {
  absl::StatusOr<NodeConfig> c = Parse(R"(
[auth]
authenticators = ["mtls", "token"]
mtls_require_registered = true
[auth.signature]
max_skew = "30s"
replay_cache_capacity = 5000
[[auth.rule]]
method = "/api.DiceService/RollDie"
authenticators = ["token"]
roles = ["dice", "admin"]
[[auth.rule]]
method = "/nodegate.v1.Identity/*"
public = true
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->auth.authenticators, auth::kMtls | auth::kToken);
  EXPECT_TRUE(c->auth.mtls_require_registered);
  EXPECT_EQ(c->auth.max_skew, absl::Seconds(30));
  EXPECT_EQ(c->auth.replay_cache_capacity, 5000u);
  ASSERT_EQ(c->auth.rules.size(), 2u);
  EXPECT_EQ(c->auth.rules[0].pattern, "/api.DiceService/RollDie");
  EXPECT_EQ(c->auth.rules[0].authenticators, auth::kToken);
  EXPECT_THAT(c->auth.rules[0].roles, ::testing::ElementsAre("dice", "admin"));
  EXPECT_TRUE(c->auth.rules[1].is_public);
}

TEST(ConfigSectionsTest, AuthErrorsNameTheField) {
  EXPECT_THAT(Error("[auth]\nauthenticators = [\"kerberos\"]\n"),
              HasSubstr("auth.authenticators: unknown authenticator 'kerberos'"));
  EXPECT_THAT(Error("[auth.signature]\nmax_skew = \"0s\"\n"),
              HasSubstr("auth.signature.max_skew: must be positive"));
  EXPECT_THAT(Error("[auth.signature]\nreplay_cache_capacity = 0\n"),
              HasSubstr("auth.signature.replay_cache_capacity"));
  EXPECT_THAT(Error("[auth.signature]\nmax_skw = \"1s\"\n"),
              HasSubstr("unknown key auth.signature.max_skw"));
  EXPECT_THAT(Error("[[auth.rule]]\nmethod = \"RollDie\"\n"),
              HasSubstr("auth.rule[0]: method 'RollDie' is not"));
  EXPECT_THAT(Error("[[auth.rule]]\nmethod = \"/a.B/C\"\npublic = true\nroles = [\"x\"]\n"),
              HasSubstr("public = true excludes authenticators and roles"));
  EXPECT_THAT(Error("[[auth.rule]]\npublic = true\n"), HasSubstr("auth.rule[0].method: required"));
  EXPECT_THAT(Error("[[auth.rule]]\nmethod = \"/a.B/C\"\nrole = [\"x\"]\n"),
              HasSubstr("unknown key auth.rule[0].role"));
  EXPECT_THAT(Error("[auth]\nrule = 3\n"), HasSubstr("auth.rule: must be [[auth.rule]] tables"));
}

TEST(ConfigSectionsTest, CredentialMaxAgeDefaultsToAMinute) {
  absl::StatusOr<NodeConfig> c = Parse("");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->auth.credential_max_age, absl::Seconds(60));
}

TEST(ConfigSectionsTest, ReadsCredentialMaxAge) {
  absl::StatusOr<NodeConfig> c = Parse("[auth]\ncredential_max_age = \"2m30s\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->auth.credential_max_age, absl::Seconds(150));
}

TEST(ConfigSectionsTest, CredentialMaxAgeThatIsNotADurationNamesTheField) {
  EXPECT_THAT(Error("[auth]\ncredential_max_age = \"a minute\"\n"),
              HasSubstr("/etc/nodegate/node.toml: auth.credential_max_age: 'a minute' is not a "
                        "duration"));
  EXPECT_THAT(Error("[auth]\ncredential_max_age = 60\n"), HasSubstr("auth.credential_max_age"));
}

TEST(ConfigSectionsTest, CredentialMaxAgeMustCoverTwoPolls) {
  EXPECT_THAT(Error("[auth]\ncredential_max_age = \"0s\"\n"),
              HasSubstr("auth.credential_max_age: must be at least twice auth.credentials_poll "
                        "(1s)"));
  EXPECT_THAT(Error("[auth]\ncredentials_poll = \"10s\"\ncredential_max_age = \"15s\"\n"),
              HasSubstr("auth.credential_max_age: must be at least twice"));
  EXPECT_EQ(Error("[auth]\ncredentials_poll = \"10s\"\ncredential_max_age = \"20s\"\n"), "OK");
}

TEST(ConfigSectionsTest, ForwardedIdentity) {
  absl::StatusOr<NodeConfig> c = Parse(R"(
[auth.forwarded]
enabled = true
trusted_proxies = ["nginx-proxy"]
trust_local = true
header = "x-client-cert"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->auth.forwarded.enabled);
  EXPECT_THAT(c->auth.forwarded.trusted_proxies, ::testing::ElementsAre("nginx-proxy"));
  EXPECT_TRUE(c->auth.forwarded.trust_local);
  EXPECT_EQ(c->auth.forwarded.header, "x-client-cert");
  // Underscores would be dropped by nginx by default; upper case is not valid in HTTP/2.
  EXPECT_THAT(Error("[auth.forwarded]\nheader = \"x_client_cert\"\n"),
              HasSubstr("auth.forwarded.header: lower-case letters, digits and '-' only"));
}

TEST(ConfigSectionsTest, LocalListenMustBeLoopback) {
  absl::StatusOr<NodeConfig> c = Parse("[grpc]\nlocal_listen = \"127.0.0.1:8081\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->grpc.local_listen, "127.0.0.1:8081");
  EXPECT_EQ(Error("[grpc]\nlocal_listen = \"[::1]:8081\"\n"), "OK");
  EXPECT_THAT(Error("[grpc]\nlocal_listen = \"0.0.0.0:8081\"\n"),
              HasSubstr("grpc.local_listen: '0.0.0.0:8081' must be a loopback host:port"));
  EXPECT_THAT(Error("[grpc]\nlocal_listen = \"10.0.0.1:8081\"\n"), HasSubstr("loopback"));
}

TEST(ConfigSectionsTest, StoreBackendDefaultsToSqlite) {
  absl::StatusOr<NodeConfig> c = Parse("");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store.backend, store::StoreConfig::Backend::kSqlite);
  EXPECT_TRUE(c->store.url.empty());
}

TEST(ConfigSectionsTest, StoreBackendPostgresTakesALibpqUrl) {
  absl::StatusOr<NodeConfig> c = Parse(R"(
[store]
backend = "postgres"
url = "host=db.example port=5432 dbname=nodegate user=nodegate passfile=/etc/nodegate/pgpass"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store.backend, store::StoreConfig::Backend::kPostgres);
  EXPECT_EQ(
      c->store.url,
      "host=db.example port=5432 dbname=nodegate user=nodegate passfile=/etc/nodegate/pgpass");
  EXPECT_EQ(c->store.postgres.pool_size, 4);
  EXPECT_EQ(c->store.postgres.statement_timeout, absl::Seconds(5));
}

TEST(ConfigSectionsTest, TheStoreIsOpenedForTheNodesId) {
  absl::StatusOr<NodeConfig> c = Parse(R"(
[node]
id = "billing"
[store]
backend = "postgres"
url = "host=db.example dbname=nodegate"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  // A shared database records the first node id that opens it (store/store_factory.h).
  EXPECT_EQ(c->store.node_id, "billing");
  EXPECT_THAT(Error("[store]\nnode_id = \"other\"\n"), HasSubstr("store.node_id"));
}

TEST(ConfigSectionsTest, StorePostgresBoundsAreKeys) {
  absl::StatusOr<NodeConfig> c = Parse(R"(
[store]
backend = "postgres"
url = "host=db"
pool_size = 16
acquire_timeout = "2s"
statement_timeout = "30s"
connect_timeout = "3s"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store.postgres.pool_size, 16);
  EXPECT_EQ(c->store.postgres.acquire_timeout, absl::Seconds(2));
  EXPECT_EQ(c->store.postgres.statement_timeout, absl::Seconds(30));
  EXPECT_EQ(c->store.postgres.connect_timeout, absl::Seconds(3));
  const std::string pg = "[store]\nbackend = \"postgres\"\nurl = \"host=db\"\n";
  EXPECT_THAT(Error(pg + "pool_size = 0\n"), HasSubstr("store.pool_size: 0 is out of range"));
  EXPECT_THAT(Error(pg + "statement_timeout = \"10ms\"\n"),
              HasSubstr("store.statement_timeout: must be in 100ms..1h"));
  EXPECT_THAT(Error(pg + "connect_timeout = \"1s\"\n"),
              HasSubstr("store.connect_timeout: must be at least 2s"));
  EXPECT_THAT(Error("[store]\npool_size = 8\n"),
              HasSubstr("store.pool_size: only used with store.backend = \"postgres\""));
}

TEST(ConfigSectionsTest, StoreErrorsNameTheFieldAndTheFix) {
  EXPECT_THAT(Error("[store]\nbackend = \"mysql\"\n"),
              HasSubstr("store.backend: 'mysql' is not one of \"sqlite\", \"postgres\""));
  EXPECT_THAT(Error("[store]\nbackend = \"postgres\"\n"),
              HasSubstr("store.url: required with store.backend = \"postgres\""));
  EXPECT_THAT(Error("[store]\nurl = \"host=db\"\n"), HasSubstr("store.url: only used with"));
  EXPECT_THAT(Error("[store]\nbackend = \"postgres\"\nurl = \"host=db\"\npath = \"x.db\"\n"),
              HasSubstr("store.path: only used with store.backend = \"sqlite\""));
  EXPECT_THAT(Error("[store]\nbackend = \"postgres\"\nurl = \"host=db nonsense\"\n"),
              HasSubstr("store.url: not a libpq connection string"));
}

TEST(ConfigSectionsTest, StoreUrlWithAPasswordIsRefusedPointingAtPassfile) {
  for (const char* url :
       {"host=db user=ng password=hunter2-secret", "postgresql://ng:hunter2-secret@db/nodegate"}) {
    std::string error =
        Error(std::string("[store]\nbackend = \"postgres\"\nurl = \"") + url + "\"\n");
    EXPECT_THAT(error, HasSubstr("store.url: carries a password"));
    EXPECT_THAT(error, HasSubstr("PGPASSFILE"));
    EXPECT_THAT(error, HasSubstr("passfile="));
    EXPECT_THAT(error, ::testing::Not(HasSubstr("hunter2")));
  }
}

TEST(ConfigSectionsTest, PortsKvRegistryStore) {
  absl::StatusOr<NodeConfig> c = Parse(R"(
[store]
path = "db/x.db"
[ports]
first = 30000
last = 30009
lease_ttl = "5m"
[kv]
max_key_bytes = 64
max_value_bytes = 128
max_total_bytes = 4096
max_keys = 10
[registry]
ca_cert = "pki/ca.pem"
ca_key = "pki/ca-key.pem"
cert_days = 30
key_grace = "1h"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store.path, "/etc/nodegate/db/x.db");
  EXPECT_EQ(c->ports.first, 30000);
  EXPECT_EQ(c->ports.last, 30009);
  EXPECT_EQ(c->ports.lease_ttl, absl::Minutes(5));
  EXPECT_EQ(c->kv.max_keys, 10);
  EXPECT_EQ(c->registry.ca_cert, "/etc/nodegate/pki/ca.pem");
  EXPECT_EQ(c->registry.cert_days, 30);
  EXPECT_EQ(c->registry.key_grace, absl::Hours(1));
}

TEST(ConfigSectionsTest, PortsKvRegistryErrors) {
  EXPECT_THAT(Error("[ports]\nfirst = 2000\nlast = 1000\n"),
              HasSubstr("ports.first/ports.last: need 1 <= first <= last <= 65535"));
  EXPECT_THAT(Error("[ports]\nlast = 70000\n"), HasSubstr("ports.first/ports.last"));
  EXPECT_THAT(Error("[ports]\nlease_ttl = \"0s\"\n"),
              HasSubstr("ports.lease_ttl: must be positive"));
  EXPECT_THAT(Error("[kv]\nmax_keys = 0\n"), HasSubstr("kv.max_keys: must be positive"));
  EXPECT_THAT(Error("[registry]\nca_cert = \"ca.pem\"\n"),
              HasSubstr("registry.ca_cert and registry.ca_key go together"));
  EXPECT_THAT(Error("[registry]\ncert_days = 0\n"), HasSubstr("registry.cert_days: must be in"));
  EXPECT_THAT(Error("[kv]\nmax_key = 1\n"), HasSubstr("unknown key kv.max_key"));
}

}  // namespace
}  // namespace nodegate::server
