// Fuzzes auth::ForwardedCertVerifier: the client certificate a TLS-terminating proxy forwards in
// x-forwarded-client-cert (URL-escaped PEM as nginx's $ssl_client_escaped_cert, or plain PEM),
// verified against the fixed CA of fuzz_fixtures.h. Input: the header value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/forwarded_identity.h"
#include "fuzz_fixtures.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nodegate;  // NOLINT(google-build-using-namespace)
  // One verifier for the whole run, as on a node: its cache (bounded) sees every input.
  static auto* verifier = new auth::ForwardedCertVerifier([] { return fuzz::TrustSet(); });
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<tls::PeerIdentity> id = verifier->Verify(header, fuzz::kNow);
  if (id.ok() && !id->authenticated) __builtin_trap();  // a verified identity is authenticated
  // And again: the cached answer must be the same.
  absl::StatusOr<tls::PeerIdentity> again = verifier->Verify(header, fuzz::kNow);
  if (id.ok() != again.ok()) __builtin_trap();
  return 0;
}
