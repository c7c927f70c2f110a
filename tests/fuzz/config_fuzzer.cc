// Fuzzes the TOML config parsers: the node config (server::ParseNodeConfig) and the client config
// (server::ParseClientConfig), each over the whole input. Parsing never touches the file system
// (the path only names the source and the base directory of relative paths).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nodegate;  // NOLINT(google-build-using-namespace)
  const std::string_view toml(reinterpret_cast<const char*>(data), size);
  (void)server::ParseNodeConfig(toml, "/etc/nodegate/node.toml");
  (void)server::ParseClientConfig(toml, "/home/op/.nodegate/client.toml");
  return 0;
}
