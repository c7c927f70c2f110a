// Fuzzes the XML-RPC endpoint's body handling: http::CheckUntrustedXml (the libexpat guard) on its
// own with a small depth bound, then the real http::XmlRpcKv::Handle (guard, xmlrpc-c, the KV
// methods) over a real SQLite KvStore in a scratch directory. Input: the request body.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_fixtures.h"
#include "http/xml_guard.h"
#include "http/xmlrpc_kv.h"
#include "store/sqlite/sqlite_stores.h"

namespace nodegate::fuzz {
namespace {

struct Fixture {
  ScratchDir dir;
  store::Stores stores;
  std::unique_ptr<http::XmlRpcKv> handler;

  Fixture() {
    // Small store limits keep a long run's database small, and put the limit paths in reach.
    store::KvLimits limits;
    limits.max_keys = 1000;
    limits.max_total_bytes = 8 << 20;
    stores = Must(store::OpenSqliteStores(dir.path() + "/db.sqlite", limits));
    handler = Must(http::XmlRpcKv::New(std::shared_ptr<store::KvStore>(std::move(stores.kv))));
  }
};

}  // namespace
}  // namespace nodegate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nodegate;  // NOLINT(google-build-using-namespace)
  static auto* fixture = new fuzz::Fixture();
  const std::string body(reinterpret_cast<const char*>(data), size);
  http::XmlGuardLimits shallow;
  shallow.max_element_depth = 8;
  (void)http::CheckUntrustedXml(body, shallow);
  const std::string response = fixture->handler->Handle(body);
  if (response.find("methodResponse") == std::string::npos) __builtin_trap();  // always answers
  return 0;
}
