#include "testlib/keys.h"

#include <map>
#include <mutex>
#include <utility>

#include "crypto/signer_factory.h"
#include "testlib/status.h"

namespace nodegate::testlib {

const crypto::KeyPair& Keys(crypto::Algorithm alg, int index) {
  static std::mutex mu;
  static std::map<std::pair<crypto::Algorithm, int>, crypto::KeyPair> keys;
  std::lock_guard<std::mutex> lock(mu);
  auto it = keys.find({alg, index});
  if (it == keys.end()) {
    it = keys.emplace(std::pair{alg, index}, Unwrap(crypto::GenerateKeyPair(alg))).first;
  }
  return it->second;
}

std::shared_ptr<const crypto::Signer> SignerFor(crypto::Algorithm alg, int index) {
  return Unwrap(crypto::NewSigner(alg, Keys(alg, index).private_key_pem));
}

std::shared_ptr<const crypto::Verifier> VerifierFor(crypto::Algorithm alg, int index) {
  return Unwrap(crypto::NewVerifier(alg, Keys(alg, index).public_key_pem));
}

}  // namespace nodegate::testlib
