// Signing keys for tests: generated once per (algorithm, index) and shared by all tests of the
// binary (generation is the slow part; tests need distinct keys, not fresh ones).
#pragma once

#include <memory>

#include "crypto/algorithm.h"
#include "crypto/key.h"
#include "crypto/signer.h"
#include "crypto/verifier.h"

namespace nodegate::testlib {

const crypto::KeyPair& Keys(crypto::Algorithm alg, int index = 0);
std::shared_ptr<const crypto::Signer> SignerFor(crypto::Algorithm alg, int index = 0);
std::shared_ptr<const crypto::Verifier> VerifierFor(crypto::Algorithm alg, int index = 0);

}  // namespace nodegate::testlib
