#include "server/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "base/files.h"
#include "testlib/temp_dir.h"

namespace nodegate::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Parsing never touches the file system: the path only names the source and the base directory.
constexpr char kPath[] = "/etc/nodegate/node.toml";

// The smallest valid config: tls.cert and tls.key have no default, and the default
// client_auth = "require" needs a CA.
constexpr char kMinimal[] = R"(
[tls]
cert = "node.pem"
key = "node-key.pem"
ca = "ca.pem"
)";

std::string Message(const absl::StatusOr<NodeConfig>& c) {
  return std::string(c.status().message());
}
std::string Message(const absl::StatusOr<ClientConfig>& c) {
  return std::string(c.status().message());
}

// --- Defaults and reading every key ---------------------------------------------------------

TEST(ParseNodeConfigTest, AbsentSectionsTakeTheirDefaults) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(kMinimal, kPath);

  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, kPath);
  EXPECT_EQ(c->node.id, "node");
  EXPECT_EQ(c->node.data_dir, "/etc/nodegate/data");
  EXPECT_EQ(c->node.trust_domain, "nodegate.local");
  EXPECT_EQ(c->grpc.listen, "127.0.0.1:8443");
  EXPECT_EQ(c->grpc.shutdown_grace, absl::Seconds(10));
  EXPECT_TRUE(c->grpc.reflection);
  EXPECT_TRUE(c->grpc.health);
  EXPECT_EQ(c->tls.client_auth, tls::ClientAuth::kRequire);
  EXPECT_EQ(c->tls.reload_interval, absl::Seconds(1));
  EXPECT_EQ(c->tls.files.crl, "");
  EXPECT_EQ(c->log.level, "info");
  EXPECT_EQ(c->log.access_log, "stdout");
}

TEST(ParseNodeConfigTest, ReadsEveryKey) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(R"(
[node]
id = "node-7"
data_dir = "/var/lib/nodegate"
trust_domain = "example.test"

[grpc]
listen = "0.0.0.0:9443"
shutdown_grace = "2500ms"
reflection = false
health = false

[tls]
cert = "/pki/node.pem"
key = "/pki/node-key.pem"
ca = "/pki/ca.pem"
crl = "/pki/crl.pem"
client_auth = "request"
reload_interval = "5s"

[log]
level = "debug"
access_log = "/var/log/nodegate/access.log"
)",
                                                 kPath);

  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node.id, "node-7");
  EXPECT_EQ(c->node.data_dir, "/var/lib/nodegate");
  EXPECT_EQ(c->node.trust_domain, "example.test");
  EXPECT_EQ(c->grpc.listen, "0.0.0.0:9443");
  EXPECT_EQ(c->grpc.shutdown_grace, absl::Milliseconds(2500));
  EXPECT_FALSE(c->grpc.reflection);
  EXPECT_FALSE(c->grpc.health);
  EXPECT_EQ(c->tls.files.cert, "/pki/node.pem");
  EXPECT_EQ(c->tls.files.key, "/pki/node-key.pem");
  EXPECT_EQ(c->tls.files.ca, "/pki/ca.pem");
  EXPECT_EQ(c->tls.files.crl, "/pki/crl.pem");
  EXPECT_EQ(c->tls.client_auth, tls::ClientAuth::kRequest);
  EXPECT_EQ(c->tls.reload_interval, absl::Seconds(5));
  EXPECT_EQ(c->log.level, "debug");
  EXPECT_EQ(c->log.access_log, "/var/log/nodegate/access.log");
}

TEST(ParseNodeConfigTest, TheEngineIsGrpcUnlessH2IsAskedFor) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(kMinimal, kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->grpc.engine, rpc::Engine::kGrpc);
  EXPECT_EQ(c->grpc.max_header_list_bytes, 16 << 10);
  EXPECT_EQ(c->grpc.stall_timeout, absl::Seconds(30));

  c = ParseNodeConfig(std::string(kMinimal) + R"(
[grpc]
engine = "h2"
max_receive_message_bytes = 65536
max_header_list_bytes = 8192
stall_timeout = "5s"
)",
                      kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->grpc.engine, rpc::Engine::kH2);
  EXPECT_EQ(c->grpc.max_receive_message_bytes, 65536);
  EXPECT_EQ(c->grpc.max_header_list_bytes, 8192);
  EXPECT_EQ(c->grpc.stall_timeout, absl::Seconds(5));
}

TEST(ParseNodeConfigTest, AnUnknownEngineOrAnOutOfRangeLimitNamesTheKey) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string(kMinimal) + "[grpc]\nengine = \"h3\"\n", kPath);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(Message(c).find("grpc.engine: \"h3\" is not an engine (\"grpc\" or \"h2\")"),
            std::string::npos)
      << Message(c);
  c = ParseNodeConfig(std::string(kMinimal) + "[grpc]\nmax_header_list_bytes = 10\n", kPath);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(Message(c).find("grpc.max_header_list_bytes: 10 is out of range"), std::string::npos)
      << Message(c);
  c = ParseNodeConfig(std::string(kMinimal) + "[grpc]\nstall_timeout = \"0s\"\n", kPath);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(Message(c).find("grpc.stall_timeout"), std::string::npos) << Message(c);
}

TEST(ParseNodeConfigTest, AcceptsEveryLogLevel) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
    absl::StatusOr<NodeConfig> c =
        ParseNodeConfig(std::string(kMinimal) + "[log]\nlevel = \"" + level + "\"\n", kPath);
    ASSERT_TRUE(c.ok()) << level << ": " << c.status();
    EXPECT_EQ(c->log.level, level);
  }
}

// --- Paths -----------------------------------------------------------------------------------

TEST(ParseNodeConfigTest, ResolvesRelativePathsAgainstTheConfigDirectory) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(R"(
[node]
data_dir = "state"
[tls]
cert = "certs/node.pem"
key = "./certs/node-key.pem"
ca = "../shared/ca.pem"
crl = "crl.pem"
[log]
access_log = "logs/access.log"
)",
                                                 kPath);

  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node.data_dir, "/etc/nodegate/state");
  EXPECT_EQ(c->tls.files.cert, "/etc/nodegate/certs/node.pem");
  EXPECT_EQ(c->tls.files.key, "/etc/nodegate/certs/node-key.pem");
  EXPECT_EQ(c->tls.files.ca, "/etc/shared/ca.pem");
  EXPECT_EQ(c->tls.files.crl, "/etc/nodegate/crl.pem");
  EXPECT_EQ(c->log.access_log, "/etc/nodegate/logs/access.log");
}

TEST(ParseNodeConfigTest, KeepsAbsolutePaths) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(R"(
[node]
data_dir = "/srv/data"
[tls]
cert = "/srv/pki/node.pem"
key = "/srv/pki/node-key.pem"
ca = "/srv/pki/ca.pem"
)",
                                                 kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node.data_dir, "/srv/data");
  EXPECT_EQ(c->tls.files.cert, "/srv/pki/node.pem");
  EXPECT_EQ(c->tls.files.key, "/srv/pki/node-key.pem");
  EXPECT_EQ(c->tls.files.ca, "/srv/pki/ca.pem");
}

TEST(ParseNodeConfigTest, KeepsTheSpecialAccessLogTargets) {
  for (const char* target : {"stdout", "stderr", "off"}) {
    absl::StatusOr<NodeConfig> c =
        ParseNodeConfig(std::string(kMinimal) + "[log]\naccess_log = \"" + target + "\"\n", kPath);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->log.access_log, target);
  }
}

TEST(ParseNodeConfigTest, LeavesAnAbsentCrlEmptyRatherThanResolvingIt) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(kMinimal, kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.files.crl, "");
}

// --- Required fields -------------------------------------------------------------------------

TEST(ParseNodeConfigTest, RequiresTlsCertEvenWhenTheSectionIsAbsent) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig("", kPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(c), std::string(kPath) + ": tls.cert: required");
}

TEST(ParseNodeConfigTest, RequiresTlsKey) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig("[tls]\ncert = \"a.pem\"\nca = \"ca.pem\"\n", kPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(c), std::string(kPath) + ": tls.key: required");
}

TEST(ParseNodeConfigTest, RequiresTlsCaWhenClientCertificatesAreRequired) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(
      "[tls]\ncert = \"a.pem\"\nkey = \"k.pem\"\nclient_auth = \"require\"\n", kPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c), HasSubstr("tls.ca: required when tls.client_auth = \"require\""));
}

TEST(ParseNodeConfigTest, RequiresTlsCaWhenClientCertificatesAreRequested) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig(
      "[tls]\ncert = \"a.pem\"\nkey = \"k.pem\"\nclient_auth = \"request\"\n", kPath);
  EXPECT_THAT(Message(c), HasSubstr("tls.ca: required when tls.client_auth = \"request\""));
}

TEST(ParseNodeConfigTest, AcceptsNoCaWhenClientAuthIsNone) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig("[tls]\ncert = \"a.pem\"\nkey = \"k.pem\"\nclient_auth = \"none\"\n", kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.client_auth, tls::ClientAuth::kNone);
  EXPECT_EQ(c->tls.files.ca, "");
}

TEST(ParseNodeConfigTest, RefusesAnEmptyNodeId) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string("[node]\nid = \"\"\n") + kMinimal, kPath);
  EXPECT_THAT(Message(c), HasSubstr("node.id: must not be empty"));
}

TEST(ParseNodeConfigTest, RefusesAListenAddressWithoutAPort) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string("[grpc]\nlisten = \"localhost\"\n") + kMinimal, kPath);
  EXPECT_THAT(Message(c), HasSubstr("grpc.listen: 'localhost' is not host:port"));
}

// --- Unknown names ---------------------------------------------------------------------------

TEST(ParseNodeConfigTest, RefusesAnUnknownSection) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string(kMinimal) + "[grcp]\nlisten = \"x:1\"\n", kPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c), StartsWith(std::string(kPath) + ": unknown section or key 'grcp'"));
}

TEST(ParseNodeConfigTest, RefusesAnUnknownTopLevelKey) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig("listen = \"x:1\"\n" + std::string(kMinimal), kPath);
  EXPECT_THAT(Message(c), HasSubstr("unknown section or key 'listen'"));
}

TEST(ParseNodeConfigTest, RefusesAKnownSectionThatIsNotATable) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig("grpc = \"x:1\"\n" + std::string(kMinimal), kPath);
  EXPECT_THAT(Message(c), HasSubstr("'grpc' must be a [grpc] table"));
}

struct UnknownKeyCase {
  std::string section;
  std::string key;
};

class UnknownKeyTest : public ::testing::TestWithParam<UnknownKeyCase> {};

INSTANTIATE_TEST_SUITE_P(EverySection, UnknownKeyTest,
                         ::testing::Values(UnknownKeyCase{"node", "nmae"},
                                           UnknownKeyCase{"grpc", "lisen"},
                                           UnknownKeyCase{"tls", "crt"},
                                           UnknownKeyCase{"log", "levle"}),
                         [](const auto& info) { return info.param.section; });

TEST_P(UnknownKeyTest, NamesTheSectionAndTheKey) {
  // kMinimal ends inside [tls]: a tls typo goes there, the others into their own table.
  const std::string line = GetParam().key + " = \"x\"\n";
  const std::string text = GetParam().section == "tls"
                               ? std::string(kMinimal) + line
                               : std::string(kMinimal) + "[" + GetParam().section + "]\n" + line;

  absl::StatusOr<NodeConfig> c = ParseNodeConfig(text, kPath);

  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c), StartsWith(std::string(kPath) + ": unknown key " + GetParam().section +
                                     "." + GetParam().key + " (known: "));
}

// --- Wrong types and values ------------------------------------------------------------------

TEST(ParseNodeConfigTest, RefusesANonBooleanFlag) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string("[grpc]\nreflection = \"yes\"\n") + kMinimal, kPath);
  EXPECT_EQ(Message(c), std::string(kPath) + ": grpc.reflection: expected true or false");
}

TEST(ParseNodeConfigTest, RefusesANonStringValue) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string("[grpc]\nlisten = 8443\n") + kMinimal, kPath);
  EXPECT_EQ(Message(c), std::string(kPath) + ": grpc.listen: expected a string");
}

TEST(ParseNodeConfigTest, RefusesADurationGivenAsANumber) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string(kMinimal) + "reload_interval = 5\n", kPath);
  EXPECT_EQ(Message(c), std::string(kPath) + ": tls.reload_interval: expected a string");
}

TEST(ParseNodeConfigTest, RefusesABadDuration) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string("[grpc]\nshutdown_grace = \"ten seconds\"\n") + kMinimal, kPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c), HasSubstr("grpc.shutdown_grace: 'ten seconds' is not a duration"));
}

TEST(ParseNodeConfigTest, RefusesANegativeDuration) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string("[grpc]\nshutdown_grace = \"-1s\"\n") + kMinimal, kPath);
  EXPECT_THAT(Message(c), HasSubstr("grpc.shutdown_grace: '-1s' is not a duration"));
}

TEST(ParseNodeConfigTest, RefusesAReloadIntervalBelowOneSecond) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string(kMinimal) + "reload_interval = \"500ms\"\n", kPath);
  EXPECT_EQ(Message(c), std::string(kPath) + ": tls.reload_interval: must be in 1s..24h");
}

TEST(ParseNodeConfigTest, AcceptsAReloadIntervalOfExactlyOneSecond) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string(kMinimal) + "reload_interval = \"1000ms\"\n", kPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.reload_interval, absl::Seconds(1));
}

TEST(ParseNodeConfigTest, RefusesAnUnknownClientAuthMode) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string(kMinimal) + "client_auth = \"optional\"\n", kPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(c), std::string(kPath) +
                            ": tls.client_auth: 'optional' is not one of require, request, none");
}

TEST(ParseNodeConfigTest, RefusesAnUnknownLogLevel) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig(std::string(kMinimal) + "[log]\nlevel = \"verbose\"\n", kPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c), HasSubstr("log.level: 'verbose' is not one of trace, debug, info"));
}

TEST(ParseNodeConfigTest, ReportsATomlSyntaxErrorWithItsLine) {
  absl::StatusOr<NodeConfig> c =
      ParseNodeConfig("[node]\nid = \"n\"\ndata_dir = \n[tls]\ncert = \"a\"\n", kPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c), StartsWith(std::string(kPath) + ":3:"));
}

TEST(ParseNodeConfigTest, ReportsAnUnterminatedStringWithItsLine) {
  absl::StatusOr<NodeConfig> c = ParseNodeConfig("[tls]\ncert = \"a.pem\"\nkey = \"k.pem\n", kPath);
  EXPECT_THAT(Message(c), StartsWith(std::string(kPath) + ":3:"));
}

// --- LoadNodeConfig --------------------------------------------------------------------------

class LoadConfigTest : public ::testing::Test {
 protected:
  testlib::ScopedTempDir dir_;
};

TEST_F(LoadConfigTest, MissingFileNamesThePath) {
  const std::string path = dir_.path() + "/absent.toml";
  absl::StatusOr<NodeConfig> c = LoadNodeConfig(path);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(c), HasSubstr(path));
}

TEST_F(LoadConfigTest, ResolvesPathsAgainstTheFilesDirectory) {
  const std::string path = dir_.path() + "/node.toml";
  ASSERT_TRUE(base::WriteFileAtomic(path, kMinimal).ok());

  absl::StatusOr<NodeConfig> c = LoadNodeConfig(path);

  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, path);
  EXPECT_EQ(c->tls.files.cert, dir_.path() + "/node.pem");
  EXPECT_EQ(c->node.data_dir, dir_.path() + "/data");
}

TEST_F(LoadConfigTest, MissingClientFileNamesThePath) {
  const std::string path = dir_.path() + "/client.toml";
  absl::StatusOr<ClientConfig> c = LoadClientConfig(path);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(c), HasSubstr(path));
}

// --- ParseClientConfig -----------------------------------------------------------------------

constexpr char kClientPath[] = "/home/op/.nodegate/client.toml";

TEST(ParseClientConfigTest, ReadsEveryKeyAndResolvesPaths) {
  absl::StatusOr<ClientConfig> c = ParseClientConfig(R"(
[client]
target = "node.example.test:9443"
ca = "ca.pem"
cert = "certs/client.pem"
key = "/secure/client-key.pem"
server_name = "node.example.test"
node_id = "op-laptop"
)",
                                                     kClientPath);

  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->target, "node.example.test:9443");
  EXPECT_EQ(c->ca, "/home/op/.nodegate/ca.pem");
  EXPECT_EQ(c->cert, "/home/op/.nodegate/certs/client.pem");
  EXPECT_EQ(c->key, "/secure/client-key.pem");
  EXPECT_EQ(c->server_name, "node.example.test");
  EXPECT_EQ(c->node_id, "op-laptop");
}

TEST(ParseClientConfigTest, DefaultsTheTargetAndLeavesOptionalFilesEmpty) {
  absl::StatusOr<ClientConfig> c = ParseClientConfig("[client]\nca = \"ca.pem\"\n", kClientPath);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->target, "127.0.0.1:8443");
  EXPECT_EQ(c->cert, "");
  EXPECT_EQ(c->key, "");
}

TEST(ParseClientConfigTest, RequiresTheCa) {
  absl::StatusOr<ClientConfig> c = ParseClientConfig("[client]\ntarget = \"x:1\"\n", kClientPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(c), std::string(kClientPath) + ": client.ca: required");
}

TEST(ParseClientConfigTest, RefusesAnUnknownKey) {
  absl::StatusOr<ClientConfig> c =
      ParseClientConfig("[client]\nca = \"ca.pem\"\ntargt = \"x:1\"\n", kClientPath);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c), HasSubstr("unknown key client.targt"));
}

TEST(ParseClientConfigTest, RefusesAnUnknownSection) {
  absl::StatusOr<ClientConfig> c =
      ParseClientConfig("[client]\nca = \"ca.pem\"\n[tls]\ncert = \"x\"\n", kClientPath);
  EXPECT_THAT(Message(c), HasSubstr("unknown section or key 'tls'"));
}

}  // namespace
}  // namespace nodegate::server
