// nodegate keys gen: a signing key pair for per-call signatures.
#include <grpcpp/client_context.h>

#include <iostream>

#include "auth/call_credentials.h"
#include "base/files.h"
#include "cli/commands.h"
#include "crypto/key.h"
#include "crypto/signer_factory.h"
#include "nodegate/v1/registry.grpc.pb.h"
#include "server/config.h"
#include "tls/channel.h"

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
    if (absl::Status s = base::MakeDirs(out, 0700); !s.ok())
      Fail("keys gen", std::string(s.message()));
    if (absl::Status s = base::WriteFileAtomic(priv, kp->private_key_pem, 0600); !s.ok()) {
      Fail("keys gen", std::string(s.message()));
    }
    if (absl::Status s = base::WriteFileAtomic(pub, kp->public_key_pem, 0644); !s.ok()) {
      Fail("keys gen", std::string(s.message()));
    }
    auto fp = crypto::PublicKeyFingerprint(kp->public_key_pem);
    std::cout << "wrote " << priv << " and " << pub << " (" << alg_name << ", sha256 "
              << (fp.ok() ? *fp : "?") << ")" << std::endl;
  });

  auto* rotate = keys->add_subcommand(
      "rotate",
      "Rotate this node's signing key: make a new key, register it with NodeRegistry/KeypairSync\n"
      "(signed by the current key), then replace the client config's sign_key file. The old key\n"
      "stays valid on the registry for registry.key_grace.");
  auto r = std::make_shared<std::pair<std::string, std::string>>("", "ed25519");
  rotate->add_option("--config,-c", r->first, "Client config written by `nodegate join`")
      ->required();
  rotate->add_option("--alg", r->second, "Algorithm of the new key")->capture_default_str();
  rotate->callback([r] {
    absl::StatusOr<server::ClientConfig> c = server::LoadClientConfig(r->first);
    if (!c.ok()) Fail("keys rotate", std::string(c.status().message()), 2);
    if (c->sign_key.empty() || c->node_id.empty() || c->audience.empty()) {
      Fail("keys rotate", "the client config needs sign_key, node_id and audience", 2);
    }
    absl::StatusOr<crypto::Algorithm> alg = crypto::ParseAlgorithm(r->second);
    if (!alg.ok()) Fail("keys rotate", std::string(alg.status().message()), 2);
    absl::StatusOr<std::string> old_pem = base::ReadFile(c->sign_key);
    if (!old_pem.ok()) Fail("keys rotate", std::string(old_pem.status().message()));
    absl::StatusOr<crypto::Algorithm> old_alg = crypto::DetectAlgorithm(*old_pem);
    if (!old_alg.ok()) Fail("keys rotate", std::string(old_alg.status().message()));
    absl::StatusOr<std::unique_ptr<crypto::Signer>> signer = crypto::NewSigner(*old_alg, *old_pem);
    if (!signer.ok()) Fail("keys rotate", std::string(signer.status().message()));
    absl::StatusOr<crypto::KeyPair> kp = crypto::GenerateKeyPair(*alg);
    if (!kp.ok()) Fail("keys rotate", std::string(kp.status().message()));
    auto channel = tls::NewChannel(
        {c->target, c->ca, c->cert, c->key, c->server_name},
        auth::NewSignatureCallCredentials(
            c->node_id, c->audience, std::shared_ptr<const crypto::Signer>(*std::move(signer))));
    if (!channel.ok()) Fail("keys rotate", std::string(channel.status().message()));
    nodegate::v1::KeypairSyncRequest req;
    req.set_new_algorithm(r->second);
    req.set_new_public_key_pem(kp->public_key_pem);
    nodegate::v1::KeypairSyncResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = nodegate::v1::NodeRegistry::NewStub(*channel)->KeypairSync(&ctx, req, &resp);
    if (!s.ok()) FailRpc("keys rotate", "KeypairSync refused", s);
    // Keep the previous key beside the new one until the grace period ends, and keep the public
    // key file (signing-pub.pem beside signing-key.pem, as join and keys gen write them) in step.
    (void)base::WriteFileAtomic(c->sign_key + ".previous", *old_pem, 0600);
    if (absl::Status st = base::WriteFileAtomic(c->sign_key, kp->private_key_pem, 0600); !st.ok()) {
      Fail("keys rotate",
           "the registry has the new key but writing it failed: " + std::string(st.message()));
    }
    std::string pub_path = c->sign_key;
    const std::string suffix = "-key.pem";
    if (pub_path.size() > suffix.size() &&
        pub_path.compare(pub_path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      pub_path.replace(pub_path.size() - suffix.size(), suffix.size(), "-pub.pem");
    } else {
      pub_path += ".pub";
    }
    if (base::FileExists(pub_path)) {
      if (auto old_pub = base::ReadFile(pub_path); old_pub.ok()) {
        (void)base::WriteFileAtomic(pub_path + ".previous", *old_pub, 0644);
      }
    }
    if (absl::Status st = base::WriteFileAtomic(pub_path, kp->public_key_pem, 0644); !st.ok()) {
      Fail("keys rotate", "writing the new public key failed: " + std::string(st.message()));
    }
    std::cout << "rotated " << c->node_id << " to " << r->second << "; previous key valid until "
              << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                  absl::FromUnixMillis(resp.previous_key_valid_until_unix_ms()),
                                  absl::UTCTimeZone())
              << "; " << resp.peers_size() << " peer key(s) known" << std::endl;
  });
}

}  // namespace nodegate::cli
