// The console's "Roll the die": a real api.DiceService/RollDie call through the library's client
// stack (tls::NewChannel, mTLS) to this node's own gRPC listener, so that the face a person sees has
// passed the TLS handshake, the auth hook, the handler, the interceptors and the access log.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tls/channel.h"

namespace nodegate::http {

class SelfDiceClient {
 public:
  // `tls.target` is the node's gRPC address; `tls.cert_file`/`key_file` the client certificate
  // the console presents (it needs the clientAuth extended key usage). The files are read per
  // call, so a rotated certificate is picked up without a restart.
  static absl::StatusOr<std::unique_ptr<SelfDiceClient>> New(tls::ClientTlsOptions tls,
                                                             absl::Duration timeout);

  // `metadata`: the HTTP caller's credentials (authorization, app-key, …), sent along so that the
  // gRPC side authorizes — and logs — the call as that caller.
  absl::StatusOr<int> Roll(const std::vector<std::pair<std::string, std::string>>& metadata) const;

 private:
  SelfDiceClient(tls::ClientTlsOptions tls, absl::Duration timeout)
      : tls_(std::move(tls)), timeout_(timeout) {}
  const tls::ClientTlsOptions tls_;
  const absl::Duration timeout_;
};

}  // namespace nodegate::http
