// Fuzzes the request bytes of every method a node serves, through the rpc::MethodTable as the
// server core calls it once the Authorizer has accepted the call. Input: byte 0 picks the method
// (of the sorted method names), byte 1 the caller (none, admin user, node-a, user without roles,
// app), the rest is the serialized request.
#include <cstddef>
#include <cstdint>
#include <string>

#include "services_fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nodegate;  // NOLINT(google-build-using-namespace)
  static auto* fixture = new fuzz::ServicesFixture();
  if (size < 2) return 0;
  const std::string& method = fixture->methods[data[0] % fixture->methods.size()];
  const auth::Principal& who = fixture->principals[data[1] % fixture->principals.size()];
  grpc::Slice slice(data + 2, size - 2);
  grpc::ByteBuffer request(&slice, 1);
  (void)fixture->Call(method, request, who);
  return 0;
}
