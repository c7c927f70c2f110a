// What signing is: bytes in, signature out. Nothing about key storage or how the key was made.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/algorithm.h"

namespace nodegate::crypto {

// Created by NewSigner (crypto/signer_factory.h); an existing Signer is usable. Sign is const and
// safe to call from many threads at once (each call builds its own OpenSSL contexts).
class Signer {
 public:
  virtual ~Signer() = default;

  // The signature over `data` in the algorithm's wire form (DER for SM2 and ECDSA, 64 raw bytes
  // for Ed25519).
  virtual absl::StatusOr<std::string> Sign(std::string_view data) const = 0;

  virtual Algorithm algorithm() const = 0;
};

}  // namespace nodegate::crypto
