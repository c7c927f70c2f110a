// The node's services as the server core serves them, for the fuzzers that go through an
// rpc::MethodTable: every service a node registers (dice, identity, port, kv, registry with the
// fixed CA of fuzz_fixtures.h, health, reflection) over real SQLite stores in a scratch directory,
// as in tests/unit/services. node-a is registered and enabled (UploadCert's caller).
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "auth/credential_cache.h"
#include "auth/principal.h"
#include "auth/store_credential_source.h"
#include "fuzz_fixtures.h"
#include "google/protobuf/stubs/logging.h"
#include "pki/certificate_authority.h"
#include "rpc/method_table.h"
#include "services/dice.h"
#include "services/health.h"
#include "services/identity.h"
#include "services/kv.h"
#include "services/port.h"
#include "services/reflection.h"
#include "services/registry.h"
#include "store/sqlite/sqlite_stores.h"

namespace nodegate::fuzz {

// The core's side of a streaming call; the call ends when the handler returns (as a client that
// goes away would end it), so that watchers do not pile up across inputs.
class DiscardStream final : public rpc::Stream {
 public:
  void Write(grpc::ByteBuffer) override {}
  void Finish(absl::Status) override { End(); }
  bool done() const override {
    absl::MutexLock lock(&mu_);
    return ended_;
  }
  void End() {
    absl::MutexLock lock(&mu_);
    ended_ = true;
  }

 private:
  mutable absl::Mutex mu_;
  bool ended_ = false;
};

inline auth::Principal MakePrincipal(auth::Principal::Kind kind, std::string id,
                                     std::vector<std::string> roles, uint32_t authenticators) {
  auth::Principal p;
  p.kind = kind;
  p.id = std::move(id);
  p.roles = std::move(roles);
  p.authenticators = authenticators;
  return p;
}

struct ServicesFixture {
  ScratchDir dir;
  std::shared_ptr<store::NodeStore> nodes;
  std::shared_ptr<store::CredentialStore> credentials;
  std::shared_ptr<store::KvStore> kv;
  std::shared_ptr<store::LeaseStore> leases;
  std::unique_ptr<auth::CredentialCache> cache;
  std::shared_ptr<const pki::CertificateAuthority> ca;
  services::DiceService dice;
  std::unique_ptr<services::IdentityService> identity;
  std::unique_ptr<services::PortService> ports;
  std::unique_ptr<services::KeyValueService> kv_service;
  std::unique_ptr<services::RegistryService> registry;
  std::unique_ptr<services::HealthService> health;
  std::unique_ptr<services::ReflectionService> reflection;
  rpc::MethodTable table;
  std::vector<std::string> methods;  // sorted, for the fuzzers' method byte
  // Who calls: none (a public call), an admin user, node-a (a registered node), a user without
  // roles, an app.
  std::vector<auth::Principal> principals;

  ServicesFixture() {
    // libprotobuf logs every request with a non-UTF-8 string field before the call is refused;
    // at thousands of inputs a second that log is the fuzzer's bottleneck.
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    store::KvLimits limits;
    limits.max_keys = 1000;
    limits.max_total_bytes = 8 << 20;
    store::Stores stores = Must(store::OpenSqliteStores(dir.path() + "/db.sqlite", limits));
    nodes = std::move(stores.nodes);
    credentials = std::move(stores.credentials);
    kv = std::move(stores.kv);
    leases = std::move(stores.leases);
    store::NodeRecord a;
    a.id = "node-a";
    a.algorithm = "ed25519";
    a.public_key_pem = kNodeAPublicKeyPem;
    a.roles = {"worker"};
    Must(nodes->Create(a));
    cache = Must(auth::CredentialCache::Start(
        std::make_shared<auth::StoreCredentialSource>(nodes, credentials), absl::ZeroDuration()));
    ca = Must(pki::CertificateAuthority::Load(kCaCertPem, kCaKeyPem));
    const std::vector<std::string> names = {"api.DiceService",
                                            "nodegate.v1.Identity",
                                            "nodegate.v1.NodeRegistry",
                                            "nodegate.v1.PortService",
                                            "nodegate.v1.KeyValue",
                                            "grpc.health.v1.Health",
                                            "grpc.reflection.v1alpha.ServerReflection"};
    identity = std::make_unique<services::IdentityService>("registry");
    services::PortRange range;
    range.first = 20000;
    range.last = 20015;  // small: exhaustion is reachable
    ports = std::make_unique<services::PortService>(leases, range);
    kv_service = std::make_unique<services::KeyValueService>(kv);
    services::RegistryOptions ro;
    ro.node_id = "registry";
    ro.ca_pem = kCaCertPem;
    registry = std::make_unique<services::RegistryService>(ro, nodes, credentials, ca, cache.get());
    health = std::make_unique<services::HealthService>(names);
    reflection = std::make_unique<services::ReflectionService>(names);
    dice.Register(table);
    identity->Register(table);
    ports->Register(table);
    kv_service->Register(table);
    registry->Register(table);
    health->Register(table);
    reflection->Register(table);
    health->SetServing(true);
    methods = table.Names();
    std::sort(methods.begin(), methods.end());
    using Kind = auth::Principal::Kind;
    principals = {
        auth::Principal(),
        MakePrincipal(Kind::kUser, "alice", {"admin"}, auth::kToken),
        MakePrincipal(Kind::kNode, "node-a", {"worker"}, auth::kSignature),
        MakePrincipal(Kind::kUser, "bob", {}, auth::kToken),
        MakePrincipal(Kind::kApp, "app-1", {"kv"}, auth::kAppKey),
    };
  }

  // Runs `method` on `request` as the core does once the Authorizer accepted the call.
  absl::Status Call(const std::string& method, const grpc::ByteBuffer& request,
                    const auth::Principal& principal) const {
    const rpc::MethodTable::Method* m = table.Find(method);
    if (m == nullptr) return absl::UnimplementedError(method);
    const tls::PeerIdentity peer;
    const rpc::CallInfo::Metadata metadata;
    rpc::DiscardResponseMetadata response_metadata;
    const rpc::CallInfo call{method,           principal, peer, metadata, absl::InfiniteFuture(),
                             response_metadata};
    if (m->unary) {
      grpc::ByteBuffer out;
      return m->unary(call, request, &out);
    }
    auto stream = std::make_shared<DiscardStream>();
    absl::Status s = m->stream(call, request, stream);
    stream->End();
    return s;
  }
};

}  // namespace nodegate::fuzz
