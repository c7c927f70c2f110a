// nodegate init --dir DIR: a development PKI and configs, created only where absent.
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "cli/commands.h"
#include "pki/pki_dir.h"

namespace nodegate::cli {
namespace {

void Step(const std::string& path, bool created) {
  std::cout << (created ? "  created " : "  kept    ") << path << "\n";
}

void WriteIfAbsent(const std::string& path, const std::string& content) {
  if (base::FileExists(path)) return Step(path, false);
  absl::Status s = base::WriteFileAtomic(path, content, 0644);
  if (!s.ok()) Fail("init", std::string(s.message()));
  Step(path, true);
}

// The console listens one port above gRPC (8443 → 8444).
std::string HttpListen(const std::string& grpc_listen) {
  size_t colon = grpc_listen.rfind(':');
  int port = std::atoi(grpc_listen.c_str() + colon + 1);
  return absl::StrCat(grpc_listen.substr(0, colon), ":", port == 0 ? 0 : port + 1);
}

void Init(const std::string& dir, const std::string& listen) {
  const std::string pki_dir = dir + "/pki";
  pki::PkiDir d(pki_dir);
  std::cout << "nodegate init: development files under " << dir << "\n";
  if (!base::FileExists(d.ca_cert_path())) {
    absl::Status s =
        d.Init(pki::CaOptions{pki::KeyType::kEcdsaP256, "nodegate dev CA", absl::Hours(24 * 3650)},
               /*force=*/false);
    if (!s.ok()) Fail("init", std::string(s.message()));
    Step(d.ca_cert_path(), true);
  } else {
    Step(d.ca_cert_path(), false);
  }
  struct Cert {
    std::string name;
    bool server;
    std::string node_id;
  };
  for (const Cert& c : {Cert{"server", true, "dev-node"}, Cert{"client", false, "dev-client"}}) {
    const std::string path = absl::StrCat(pki_dir, "/", c.name, ".pem");
    if (base::FileExists(path)) {
      Step(path, false);
      continue;
    }
    pki::IssueOptions o;
    o.common_name = c.server ? "localhost" : c.node_id;
    o.server = c.server;
    // The node's certificate is also a client certificate (clientAuth), so that a node can call
    // its peers with it; `pki issue --server --client --node-id` keeps that on rotation.
    o.client = true;
    if (c.server) o.sans = {"127.0.0.1", "localhost"};
    o.node_id = c.node_id;
    absl::StatusOr<std::string> issued = d.Issue(c.name, o, "", /*force=*/false);
    if (!issued.ok()) Fail("init", std::string(issued.status().message()));
    Step(*issued, true);
  }
  if (!base::FileExists(d.crl_path())) {
    // A year: long enough that a dev setup does not lock itself out (an expired CRL refuses every
    // client of its CA); `nodegate pki crl` renews it.
    if (absl::Status s = d.WriteCrl(pki::kDefaultCrlValidity); !s.ok()) {
      Fail("init", std::string(s.message()));
    }
    Step(d.crl_path(), true);
  } else {
    Step(d.crl_path(), false);
  }
  WriteIfAbsent(
      dir + "/node.toml",
      absl::StrCat(R"(# nodegate node config (written by `nodegate init`). Reference: docs/config.md
# Relative paths are relative to this file's directory.
[node]
id = "dev-node"
data_dir = "data"

[grpc]
listen = ")",
                   listen, R"("
shutdown_grace = "10s"

[tls]
cert = "pki/server.pem"
key = "pki/server-key.pem"
ca = "pki/ca.pem"
crl = "pki/crl.pem"
client_auth = "require"
reload_interval = "1s"

[log]
level = "info"
access_log = "stdout"

# HTTPS console + JSON gateway (docs/console.md). Log in with a token:
#   nodegate token create --config )",
                   dir, R"(/node.toml --principal me --roles admin
[http]
listen = ")",
                   HttpListen(listen), R"("
client_auth = "request"
)"));
  WriteIfAbsent(
      dir + "/client.toml",
      absl::StrCat(R"(# nodegate client config (written by `nodegate init`), for `nodegate call`.
[client]
target = ")",
                   listen, R"("
ca = "pki/ca.pem"
cert = "pki/client.pem"
key = "pki/client-key.pem"
server_name = "localhost"
node_id = "dev-client"
)"));
  std::cout << "start:  nodegate serve --config " << dir << "/node.toml\n"
            << "web:    https://" << HttpListen(listen) << "/ (CA " << dir << "/pki/ca.pem)\n"
            << "call:   nodegate call dice --config " << dir << "/client.toml" << std::endl;
}

}  // namespace

void AddInitCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "init",
      "Create a development setup (only what is missing, never overwriting): DIR/pki/ca.pem,\n"
      "server.pem (SANs 127.0.0.1, localhost), client.pem (node id dev-client), crl.pem,\n"
      "DIR/node.toml and DIR/client.toml.");
  auto dir = std::make_shared<std::string>("var");
  auto listen = std::make_shared<std::string>("127.0.0.1:8443");
  cmd->add_option("--dir", *dir, "Directory for the dev files")->capture_default_str();
  cmd->add_option("--listen", *listen, "gRPC address written into the configs")
      ->capture_default_str();
  cmd->callback([dir, listen] { Init(*dir, *listen); });
}

}  // namespace nodegate::cli
