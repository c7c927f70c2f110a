// Signers and verifiers from PEM keys. The algorithm is the one registered for the key (design §3),
// never one the caller of an RPC picked; the factory refuses a key that does not fit it.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/algorithm.h"
#include "crypto/signer.h"
#include "crypto/verifier.h"

namespace nodegate::crypto {

// `private_key_pem`: an unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"; traditional EC/SM2 forms are
// accepted too) holding the key type `algorithm` needs: SM2 for sm2-sm3, EC prime256v1 for
// ecdsa-p256-sha256, ED25519 for ed25519. INVALID_ARGUMENT for unparsable PEM or a key of another
// type, naming what was expected and what was given.
absl::StatusOr<std::unique_ptr<Signer>> NewSigner(Algorithm algorithm,
                                                  std::string_view private_key_pem);

// `public_key_pem`: a SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY") of the type `algorithm` needs.
// Errors as for NewSigner. The verifier is immutable and safe to share between threads.
absl::StatusOr<std::unique_ptr<Verifier>> NewVerifier(Algorithm algorithm,
                                                      std::string_view public_key_pem);

}  // namespace nodegate::crypto
