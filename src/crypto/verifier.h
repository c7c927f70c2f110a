// What verifying is: a signature and bytes in, a verdict out.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "crypto/algorithm.h"

namespace nodegate::crypto {

// Created by NewVerifier (crypto/signer_factory.h). Immutable once made; Verify is safe to call
// from many threads at once (each call works on its own copy of a context prepared once).
//
// Status codes, chosen so that a caller can tell "the peer sent junk" from "the peer is not who it
// claims to be" without parsing messages:
//   OK                the signature is valid for `data` under this key;
//   INVALID_ARGUMENT  the signature is malformed: empty, wrong size (Ed25519 needs 64 bytes), or
//   not
//                     a strict-DER ECDSA-Sig-Value (SM2, ECDSA);
//   UNAUTHENTICATED   the signature is well-formed but does not match ("signature mismatch").
// The auth layer reports both non-OK cases to a peer as UNAUTHENTICATED; the distinction is for the
// access log. Messages never contain key material or the data.
class Verifier {
 public:
  virtual ~Verifier() = default;

  virtual absl::Status Verify(std::string_view signature, std::string_view data) const = 0;

  virtual Algorithm algorithm() const = 0;
};

}  // namespace nodegate::crypto
