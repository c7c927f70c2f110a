// Why a client could not reach a node, in a sentence. gRPC reports every TLS failure of a dial as
// the same UNAVAILABLE "failed to connect to all addresses" (and a refused client certificate under
// TLS 1.3 as "Socket closed"), so after a failed call the client dials once more itself with a
// plain OpenSSL handshake, looks at what the server sent (its certificate, its names, its alert),
// and says which of the known shapes it was and what fixes it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tls/channel.h"

namespace nodegate::tls {

// What one probing dial found, in the order gRPC's own checks run.
struct DialProbe {
  enum class Outcome {
    kAccepted,               // handshake done and the server went on talking: not a TLS problem
    kBadTarget,              // the target is not host:port
    kRefused,                // nothing listens there (ECONNREFUSED)
    kUnreachable,            // no TCP connection (timeout, no route, name not resolved)
    kNotTls,                 // the server answered, but not with TLS
    kServerUntrusted,        // the server's chain does not verify against our CA
    kServerExpired,          // … because it (or its chain) expired or is not yet valid
    kNameMismatch,           // it verifies, but does not name the host we dialled
    kServerClosedHandshake,  // the server refused the handshake (after seeing our certificate)
  };
  Outcome outcome = Outcome::kAccepted;
  std::string host_port;                  // as dialled
  std::string expected_name;              // --server-name, else the target's host
  std::vector<std::string> server_names;  // DNS and IP SANs of the server's certificate
  std::string server_subject;             // of the server's certificate, when one was seen
  std::string server_issuer;
  std::string
      alert;  // the TLS alert the server sent, in words ("certificate revoked"); may be empty
  std::string detail;  // OpenSSL's verify error or the errno text
  // Once the handshake completed: what was agreed and the server certificate's validity and
  // SHA-256 fingerprint (lowercase hex, as pki::CertificateInfo), for `nodegate doctor`.
  std::string tls_version;  // "TLSv1.3"
  std::string alpn;         // the protocol the server chose ("h2"); empty: it chose none
  absl::Time server_not_after = absl::InfinitePast();
  std::string server_sha256;
};

// The sentence for `probe`; empty for kAccepted (nothing specific to say). Pure.
std::string ExplainDialProbe(const DialProbe& probe, const ClientTlsOptions& options);

// Dials `options.target` once with OpenSSL (our CA, our client certificate, ALPN h2, SNI) and
// reports what happened; each step is bounded by `timeout`. Reads the CA and client files again
// (their errors come out as kAccepted with `detail` set: NewChannelCredentials reports them first).
DialProbe ProbeDial(const ClientTlsOptions& options, absl::Duration timeout);

// ProbeDial + ExplainDialProbe: the sentence, or empty when the probe found nothing known.
std::string DiagnoseDialFailure(const ClientTlsOptions& options,
                                absl::Duration timeout = absl::Seconds(3));

// Before any connection: the client certificate and key parse and belong together. The error
// names both files (gRPC itself would only say "empty address list" after an internal dump).
absl::Status CheckClientIdentity(const ClientTlsOptions& options);

}  // namespace nodegate::tls
