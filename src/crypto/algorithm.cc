#include "crypto/algorithm.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace nodegate::crypto {

absl::StatusOr<Algorithm> ParseAlgorithm(std::string_view name) {
  for (Algorithm a : {Algorithm::kSm2Sm3, Algorithm::kEcdsaP256Sha256, Algorithm::kEd25519}) {
    if (name == AlgorithmName(a)) return a;
  }
  // Echo at most a short prefix: the name may come from a file or a registry row of any size.
  constexpr size_t kMaxEcho = 64;
  const std::string shown =
      name.size() > kMaxEcho ? std::string(name.substr(0, kMaxEcho)) + "..." : std::string(name);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown signature algorithm \"", shown,
                   R"("; valid values are "sm2-sm3", "ecdsa-p256-sha256", "ed25519")"));
}

std::string_view AlgorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kSm2Sm3:
      return "sm2-sm3";
    case Algorithm::kEcdsaP256Sha256:
      return "ecdsa-p256-sha256";
    case Algorithm::kEd25519:
      return "ed25519";
  }
  return "unknown";  // Only reachable through a cast of an out-of-range integer.
}

}  // namespace nodegate::crypto
