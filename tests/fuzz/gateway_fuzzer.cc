// Fuzzes the console's JSON gateway: http::Gateway::Handle with a fuzzed request, over a real
// Authorizer (tokens for alice [admin] and bob []), real SQLite node and KV stores, metrics and the
// recent access-log lines.
//
// Input (tests/fuzz/corpus/gateway/):
//   line 1    "METHOD /path?query"
//   lines 2…  headers, "name: value" each; "x-fuzz-peer: cn|spiffe-uri|transport" sets the
//             verified client certificate instead of being sent
//   an empty line, then the body
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/dice.pb.h"
#include "auth/authorizer.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "crypto/digest.h"
#include "fuzz_fixtures.h"
#include "http/gateway.h"
#include "nodegate/v1/kv.pb.h"
#include "nodegate/v1/registry.pb.h"
#include "observe/access_log.h"
#include "observe/metrics.h"
#include "observe/recent_lines.h"
#include "store/sqlite/sqlite_stores.h"

namespace nodegate::fuzz {
namespace {

class FixedSource : public auth::CredentialSource {
 public:
  absl::StatusOr<uint64_t> Generation() override { return 1; }
  absl::StatusOr<auth::CredentialSnapshot> Load() override {
    auth::CredentialSnapshot s;
    auto add = [&](const char* token, const char* who, std::vector<std::string> roles) {
      auth::TokenCredential t;
      t.hash = crypto::Sha256(token);
      t.principal = who;
      t.roles = std::move(roles);
      s.tokens[t.hash] = t;
    };
    add("admin-token-0123456789abcdef", "alice", {"admin"});
    add("user-token-0123456789abcdef", "bob", {});
    return s;
  }
};

struct Fixture {
  ScratchDir dir;
  std::unique_ptr<auth::CredentialCache> cache;
  std::unique_ptr<http::Gateway> gateway;

  Fixture() {
    api::RollDieRequest::descriptor();
    nodegate::v1::ListNodesRequest::descriptor();
    nodegate::v1::KeysRequest::descriptor();
    cache =
        Must(auth::CredentialCache::Start(std::make_shared<FixedSource>(), absl::ZeroDuration()));
    auto policy = Must(auth::Policy::Build(
        {}, Must(auth::RulesFromProtoOptions({"api.DiceService", "nodegate.v1.Identity",
                                              "nodegate.v1.NodeRegistry", "nodegate.v1.KeyValue",
                                              "grpc.health.v1.Health"}))));
    auth::AuthorizerOptions ao;
    ao.audience = "test-node";
    store::KvLimits limits;
    limits.max_keys = 1000;
    limits.max_total_bytes = 8 << 20;
    store::Stores stores = Must(store::OpenSqliteStores(dir.path() + "/db.sqlite", limits));
    auto recent = std::make_shared<observe::RecentLines>(100);
    http::GatewayOptions o;
    o.node_id = "test-node";
    o.credentials = [] { return TrustSet(); };
    o.listeners = [] {
      return std::vector<std::pair<std::string, std::string>>{{"grpc", "127.0.0.1:1"}};
    };
    o.authorizer = Must(auth::Authorizer::New(ao, policy, cache.get()));
    o.services = {"api.DiceService", "nodegate.v1.KeyValue"};
    o.nodes = std::move(stores.nodes);
    o.kv = std::move(stores.kv);
    o.metrics =
        std::make_shared<observe::Metrics>(std::vector<std::string>{"/api.DiceService/RollDie"});
    o.recent = recent;
    o.access_log = Must(observe::AccessLog::Open("off", recent));
    o.roll_die = [] { return absl::StatusOr<int>(4); };
    o.ready = [] { return absl::OkStatus(); };
    gateway = Must(http::Gateway::New(std::move(o)));
  }
};

}  // namespace
}  // namespace nodegate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nodegate;  // NOLINT(google-build-using-namespace)
  static auto* fixture = new fuzz::Fixture();
  fuzz::HeaderBlock block =
      fuzz::SplitHeaderBlock(std::string_view(reinterpret_cast<const char*>(data), size));
  if (block.lines.empty()) return 0;
  http::HttpRequest r;
  std::string_view start = block.lines[0];
  size_t sp = start.find(' ');
  r.method = std::string(start.substr(0, sp));
  std::string_view target = sp == std::string_view::npos ? "" : start.substr(sp + 1);
  size_t q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      size_t eq = pair.find('=');
      r.query.emplace(std::string(pair.substr(0, eq)),
                      eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
      query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    }
  }
  for (size_t i = 1; i < block.lines.size(); ++i) {
    auto [name, value] = fuzz::SplitHeader(block.lines[i]);
    if (name == "x-fuzz-peer") {
      r.peer = fuzz::ParsePeer(value);
    } else {
      r.headers.emplace(std::string(name), std::string(value));
    }
  }
  r.body = std::string(block.body);
  r.remote = "127.0.0.1:5555";
  http::HttpResponse res = fixture->gateway->Handle(r);
  if (res.status < 100 || res.status > 599) __builtin_trap();
  return 0;
}
