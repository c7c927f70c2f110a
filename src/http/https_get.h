// A one-shot HTTPS GET for the CLI's own questions to a running node (`nodegate node add` asks
// /readyz which credential generation the node has loaded). Not a general client: one request,
// one connection, a deadline over all of it, the server verified against a CA file.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nodegate::http {

struct HttpsGetRequest {
  std::string host;  // address to connect to (an IP or a name)
  std::string port;
  std::string path = "/";
  // PEM file of the CA(s) the server's certificate must chain to; never empty.
  std::string ca_file;
  // Name or IP the certificate must carry (SAN); empty = chain only (the caller pins the CA).
  std::string server_name;
  absl::Duration timeout = absl::Seconds(2);  // connect + handshake + request + response
};

struct HttpsGetResponse {
  int status = 0;
  std::string body;
};

// UNAVAILABLE when nothing accepts on host:port (connection refused), DEADLINE_EXCEEDED past the
// timeout, FAILED_PRECONDITION for a TLS failure (the message says which), INTERNAL otherwise.
absl::StatusOr<HttpsGetResponse> HttpsGet(const HttpsGetRequest& request);

}  // namespace nodegate::http
