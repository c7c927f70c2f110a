// nodegate node invite (on the registry node) and nodegate join (on the new node).
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "auth/credential_admin.h"
#include "base/files.h"
#include "cli/commands.h"
#include "cli/store_access.h"
#include "crypto/key.h"
#include "nodegate/v1/registry.grpc.pb.h"
#include "pki/certificate_authority.h"
#include "pki/certificate_info.h"
#include "pki/key_type.h"
#include "pki/pem.h"
#include "server/config.h"

namespace nodegate::cli {
namespace {

std::string NormalizeFingerprint(std::string fp) {
  fp = absl::AsciiStrToLower(fp);
  if (fp.rfind("sha256:", 0) == 0) fp = fp.substr(7);
  return absl::StrReplaceAll(fp, {{":", ""}});
}

struct JoinFlags {
  std::string server, token, id, dir, fingerprint, alg = "ed25519", server_name, timeout = "10s";
  bool force = false;
};

void Join(const JoinFlags& f) {
  const std::string expected = NormalizeFingerprint(f.fingerprint);
  if (expected.size() != 64) Fail("join", "--ca-fingerprint: expected 64 hex digits (SHA-256)", 2);
  absl::StatusOr<crypto::Algorithm> alg = crypto::ParseAlgorithm(f.alg);
  if (!alg.ok()) Fail("join", std::string(alg.status().message()), 2);
  const std::string node_pem = f.dir + "/node.pem";
  if (!f.force && base::FileExists(node_pem)) {
    Fail("join", node_pem + " already exists (use --force to join again)");
  }

  // Step 1: fetch the CA over TLS without verifying the server, and pin it by fingerprint. Nothing
  // secret is sent on this channel.
  grpc::experimental::TlsChannelCredentialsOptions bootstrap;
  bootstrap.set_verify_server_certs(false);
  bootstrap.set_check_call_host(false);
  bootstrap.set_certificate_verifier(
      std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  auto deadline = [&f] {
    absl::Duration d;
    if (!absl::ParseDuration(f.timeout, &d)) d = absl::Seconds(10);
    return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
  };
  nodegate::v1::GetTrustBundleResponse bundle;
  {
    auto channel = grpc::CreateChannel(f.server, grpc::experimental::TlsCredentials(bootstrap));
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    grpc::Status s = nodegate::v1::NodeRegistry::NewStub(channel)->GetTrustBundle(
        &ctx, nodegate::v1::GetTrustBundleRequest(), &bundle);
    if (!s.ok()) FailRpc("join", "fetching the trust bundle", s);
  }
  absl::StatusOr<pki::CertificateInfo> ca =
      pki::InspectCertificatePem(bundle.ca_pem(), "server CA");
  if (!ca.ok()) Fail("join", std::string(ca.status().message()));
  if (ca->sha256_fingerprint != expected) {
    Fail("join", "CA fingerprint mismatch: expected " + expected + ", the server offers " +
                     ca->sha256_fingerprint + "; not joining");
  }
  std::cerr << "join: server CA " << ca->subject << " matches the pinned fingerprint" << std::endl;

  // Step 2: keys and CSR, then AddNode over a channel verified against the pinned CA.
  absl::StatusOr<crypto::KeyPair> signing = crypto::GenerateKeyPair(*alg);
  if (!signing.ok()) Fail("join", std::string(signing.status().message()));
  absl::StatusOr<crypto::EvpPkeyPtr> tls_key = pki::GenerateKey(pki::KeyType::kEcdsaP256);
  if (!tls_key.ok()) Fail("join", std::string(tls_key.status().message()));
  absl::StatusOr<std::string> csr = pki::MakeCsr(tls_key->get(), f.id);
  if (!csr.ok()) Fail("join", std::string(csr.status().message()));
  absl::StatusOr<std::string> tls_key_pem = pki::PrivateKeyToPem(tls_key->get());
  if (!tls_key_pem.ok()) Fail("join", std::string(tls_key_pem.status().message()));

  grpc::SslCredentialsOptions verified;
  verified.pem_root_certs = bundle.ca_pem();
  grpc::ChannelArguments args;
  if (!f.server_name.empty()) args.SetSslTargetNameOverride(f.server_name);
  auto channel = grpc::CreateCustomChannel(f.server, grpc::SslCredentials(verified), args);
  nodegate::v1::AddNodeRequest req;
  req.set_join_token(f.token);
  req.set_node_id(f.id);
  req.set_algorithm(f.alg);
  req.set_public_key_pem(signing->public_key_pem);
  req.set_csr_pem(*csr);
  nodegate::v1::AddNodeResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  grpc::Status s = nodegate::v1::NodeRegistry::NewStub(channel)->AddNode(&ctx, req, &resp);
  if (!s.ok()) FailRpc("join", "AddNode refused", s);

  if (absl::Status st = base::MakeDirs(f.dir, 0700); !st.ok())
    Fail("join", std::string(st.message()));
  struct Out {
    std::string name;
    const std::string* content;
    mode_t mode;
  };
  const std::string client_toml = absl::StrCat(
      "# written by `nodegate join`\n[client]\ntarget = \"", f.server, "\"\nca = \"ca.pem\"\n",
      "cert = \"node.pem\"\nkey = \"node-key.pem\"\nnode_id = \"", f.id, "\"\naudience = \"",
      resp.registry_node_id(), "\"\nsign_key = \"signing-key.pem\"\n",
      f.server_name.empty() ? "" : absl::StrCat("server_name = \"", f.server_name, "\"\n"));
  for (const Out& o :
       {Out{"signing-key.pem", &signing->private_key_pem, 0600},
        Out{"signing-pub.pem", &signing->public_key_pem, 0644},
        Out{"node-key.pem", &*tls_key_pem, 0600}, Out{"node.pem", &resp.cert_pem(), 0644},
        Out{"ca.pem", &resp.ca_pem(), 0644}, Out{"client.toml", &client_toml, 0644}}) {
    if (absl::Status st = base::WriteFileAtomic(f.dir + "/" + o.name, *o.content, o.mode);
        !st.ok()) {
      Fail("join", std::string(st.message()));
    }
  }
  if (!resp.registry_public_key_pem().empty()) {
    (void)base::WriteFileAtomic(f.dir + "/registry-pub.pem", resp.registry_public_key_pem(), 0644);
  }
  std::cout << "joined as " << f.id << " (roles " << absl::StrJoin(resp.roles(), ",")
            << ") via registry node " << resp.registry_node_id() << "; files in " << f.dir
            << "; try: nodegate call whoami --config " << f.dir << "/client.toml" << std::endl;
}

}  // namespace

void AddJoinCommands(CLI::App& app, CLI::App* node) {
  auto flags = std::make_shared<StoreFlags>();
  auto* invite = node->add_subcommand(
      "invite",
      "Create a one-time join token for a new node (stored hashed, single use, expiring) and\n"
      "print it with the CA fingerprint the new node must pin.");
  auto i = std::make_shared<std::tuple<std::string, std::string, std::string>>("", "", "1h");
  AddStoreFlags(invite, flags.get());
  invite->add_option("--id", std::get<0>(*i), "The new node's id")->required();
  invite->add_option("--roles", std::get<1>(*i), "Roles the node gets on joining");
  invite->add_option("--ttl", std::get<2>(*i), "Token lifetime")->capture_default_str();
  invite->callback([flags, i] {
    auto& [id, roles, ttl_text] = *i;
    absl::Duration ttl;
    if (!absl::ParseDuration(ttl_text, &ttl)) Fail("node invite", "--ttl: not a duration", 2);
    if (flags->config.empty()) Fail("node invite", "--config NODE.toml is required", 2);
    absl::StatusOr<server::NodeConfig> c = server::LoadNodeConfig(flags->config);
    if (!c.ok()) Fail("node invite", std::string(c.status().message()), 2);
    std::string ca_file = c->tls.files.ca.empty() ? c->registry.ca_cert : c->tls.files.ca;
    absl::StatusOr<std::string> ca_pem = base::ReadFile(ca_file);
    if (!ca_pem.ok()) Fail("node invite", std::string(ca_pem.status().message()));
    auto ca = pki::InspectCertificatePem(*ca_pem, ca_file);
    if (!ca.ok()) Fail("node invite", std::string(ca.status().message()));
    store::Stores s = OpenStores(*flags, "node invite");
    absl::StatusOr<auth::IssuedJoinToken> t =
        auth::IssueJoinToken(*s.credentials, id, SplitList(roles), ttl);
    if (!t.ok()) Fail("node invite", std::string(t.status().message()));
    std::cerr << "join token for " << id << ", single use, expires "
              << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t->record.expires_at, absl::UTCTimeZone())
              << "; on the new node run:\n  nodegate join --server " << c->grpc.listen
              << " --token <token> --id " << id << " --dir <dir> --ca-fingerprint "
              << ca->sha256_fingerprint << std::endl;
    std::cout << "token=" << t->token << "\nca_fingerprint=" << ca->sha256_fingerprint << std::endl;
  });

  auto f = std::make_shared<JoinFlags>();
  auto* join = app.add_subcommand(
      "join",
      "Enrol this machine as a node: pins the registry's CA by fingerprint, makes a signing key\n"
      "and a TLS key + CSR, calls NodeRegistry/AddNode with the one-time token, and writes\n"
      "DIR/{ca.pem,node.pem,node-key.pem,signing-key.pem,signing-pub.pem,client.toml}.");
  join->add_option("--server", f->server, "Registry node host:port")->required();
  join->add_option("--token", f->token, "One-time join token from `nodegate node invite`")
      ->required();
  join->add_option("--id", f->id, "This node's id (must match the invitation)")->required();
  join->add_option("--dir", f->dir, "Where to write keys, certificate and config")->required();
  join->add_option("--ca-fingerprint", f->fingerprint,
                   "SHA-256 fingerprint of the registry's CA certificate (from invite)")
      ->required();
  join->add_option("--alg", f->alg, "Signing algorithm: sm2-sm3 | ecdsa-p256-sha256 | ed25519")
      ->capture_default_str();
  join->add_option("--server-name", f->server_name, "Expected server name (default: from server)");
  join->add_option("--timeout", f->timeout, "Deadline per call")->capture_default_str();
  join->add_flag("--force", f->force, "Overwrite an earlier enrolment in DIR");
  join->callback([f] { Join(*f); });
}

}  // namespace nodegate::cli
