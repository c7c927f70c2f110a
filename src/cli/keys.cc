// nodegate keys gen: a signing key pair for per-call signatures.
#include <iostream>

#include "base/files.h"
#include "cli/commands.h"
#include "crypto/key.h"

namespace nodegate::cli {

void AddKeysCommand(CLI::App& app) {
  auto* keys = app.add_subcommand("keys", "Signing keys for per-call node signatures.");
  keys->require_subcommand(1);
  auto* gen = keys->add_subcommand(
      "gen", "Generate a key pair: OUT/signing-key.pem (0600, PKCS#8) and OUT/signing-pub.pem.");
  auto f = std::make_shared<std::tuple<std::string, std::string, bool>>("", "", false);
  gen->add_option("--alg", std::get<0>(*f), "sm2-sm3 | ecdsa-p256-sha256 | ed25519")->required();
  gen->add_option("--out", std::get<1>(*f), "Output directory")->required();
  gen->add_flag("--force", std::get<2>(*f), "Replace existing files");
  gen->callback([f] {
    auto& [alg_name, out, force] = *f;
    absl::StatusOr<crypto::Algorithm> alg = crypto::ParseAlgorithm(alg_name);
    if (!alg.ok()) Fail("keys gen", std::string(alg.status().message()), 2);
    const std::string priv = out + "/signing-key.pem", pub = out + "/signing-pub.pem";
    if (!force && (base::FileExists(priv) || base::FileExists(pub))) {
      Fail("keys gen", priv + " already exists (use --force to replace it)");
    }
    absl::StatusOr<crypto::KeyPair> kp = crypto::GenerateKeyPair(*alg);
    if (!kp.ok()) Fail("keys gen", std::string(kp.status().message()));
    if (absl::Status s = base::MakeDirs(out, 0700); !s.ok()) Fail("keys gen", std::string(s.message()));
    if (absl::Status s = base::WriteFileAtomic(priv, kp->private_key_pem, 0600); !s.ok()) {
      Fail("keys gen", std::string(s.message()));
    }
    if (absl::Status s = base::WriteFileAtomic(pub, kp->public_key_pem, 0644); !s.ok()) {
      Fail("keys gen", std::string(s.message()));
    }
    auto fp = crypto::PublicKeyFingerprint(kp->public_key_pem);
    std::cout << "wrote " << priv << " and " << pub << " (" << alg_name
              << ", sha256 " << (fp.ok() ? *fp : "?") << ")" << std::endl;
  });
}

}  // namespace nodegate::cli
