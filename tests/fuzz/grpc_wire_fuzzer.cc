// Fuzzes the gRPC framing the h2 engine reads above nghttp2 (rpc/grpc_wire.h): a request body
// split into messages at fuzzer-chosen chunk boundaries, and the header values it decodes
// (grpc-timeout, "-bin" metadata, grpc-message). Input: byte 0 sets the chunk size, byte 1 the
// message limit; the rest is the body, and also each header value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rpc/grpc_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nodegate::rpc;  // NOLINT(google-build-using-namespace)
  if (size < 2) return 0;
  const size_t chunk = size_t{data[0]} + 1;
  const size_t limit = size_t{data[1]} * 16;
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  MessageReader reader(limit);
  size_t total = 0;
  for (size_t i = 0; i < body.size(); i += chunk) {
    absl::Status s = reader.Feed(body.substr(i, chunk), [&](std::string&& m) {
      if (m.size() > limit) __builtin_trap();  // the limit is a promise
      total += m.size() + kMessagePrefixBytes;
    });
    if (!s.ok()) break;
  }
  if (total > body.size()) __builtin_trap();  // never more out than in

  (void)ParseGrpcTimeout(body);
  if (std::optional<std::string> raw = DecodeBinaryHeader(body)) {
    // What decodes re-encodes to a value that decodes to the same bytes.
    if (DecodeBinaryHeader(EncodeBinaryHeader(*raw)) != raw) __builtin_trap();
  }
  const std::string encoded = PercentEncode(body);
  if (PercentDecode(encoded) != body) __builtin_trap();
  return 0;
}
