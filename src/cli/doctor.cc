// nodegate doctor --config FILE [--peer HOST:PORT]: a checklist of what the node (or the client)
// will meet, each ok / warn / fail with the fix. The checks live in src/doctor/.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/store_access.h"
#include "doctor/node_checks.h"
#include "doctor/peer_checks.h"
#include "server/config.h"

namespace nodegate::cli {
namespace {

struct DoctorFlags {
  std::string config;
  std::string peer;
  std::string output = "text";
  double signed_rate = 1000;
  std::vector<std::string> nginx_files;
  bool no_ports = false;
  bool json = false;
  int warn_days = 30;
};

void Append(std::vector<doctor::Finding>* to, std::vector<doctor::Finding> more) {
  for (doctor::Finding& f : more) to->push_back(std::move(f));
}

void RunDoctor(const DoctorFlags& f) {
  absl::StatusOr<server::ConfigKind> kind = server::ConfigFileKind(f.config);
  if (!kind.ok()) Fail("doctor", std::string(kind.status().message()));
  const absl::Time now = absl::Now();
  const absl::Duration warn = absl::Hours(24) * f.warn_days;
  doctor::PeerCheckOptions peer_options;
  peer_options.now = now;
  peer_options.expiry_warning = warn;

  std::vector<doctor::Finding> findings;
  tls::ClientTlsOptions tls;
  doctor::CallerIdentity caller;
  bool check_peer = false;
  if (*kind == server::ConfigKind::kClient) {
    if (absl::Status s = doctor::LoadClientSide(f.config, f.peer, &tls, &caller); !s.ok()) {
      findings.push_back({"config parses", doctor::Level::kFail, std::string(s.message()),
                          "fix the field named (docs/cli.md, client.toml)"});
    } else {
      findings.push_back({"config parses", doctor::Level::kOk, f.config + " (client)", ""});
      Append(&findings, doctor::CheckClientFiles(tls, caller, peer_options));
      check_peer = doctor::Worst(findings) != doctor::Level::kFail;
    }
  } else {
    doctor::NodeCheckOptions options;
    options.now = now;
    options.expiry_warning = warn;
    options.signed_per_second = f.signed_rate;
    options.probe_ports = !f.no_ports;
    options.nginx_files = f.nginx_files;
    Append(&findings, doctor::CheckNode(f.config, options));
    if (!f.peer.empty()) {
      absl::StatusOr<tls::ClientTlsOptions> own = doctor::NodeClientOptions(f.config, f.peer);
      check_peer = own.ok();
      if (own.ok()) tls = *own;
    }
  }
  if (check_peer) Append(&findings, doctor::CheckPeer(tls, caller, peer_options));

  std::cout << (f.output == "json" || f.json ? doctor::RenderJson(findings) + "\n"
                                             : doctor::RenderText(findings))
            << std::flush;
  if (doctor::Worst(findings) == doctor::Level::kFail) {
    int failed = 0;
    for (const doctor::Finding& x : findings) failed += x.level == doctor::Level::kFail ? 1 : 0;
    Fail("doctor", absl::StrCat(failed, failed == 1 ? " check" : " checks",
                                " failed; each says its fix above"));
  }
}

}  // namespace

void AddDoctorCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "doctor",
      "Check a node's or a client's config without starting anything: each check prints ok,\n"
      "warn or fail, with the fix. Exit 0 unless a check fails (warnings do not fail).\n"
      "  node config:   files parse, key matches cert, chain and CRL, expiry (warn under 30\n"
      "                 days), usages, listen hosts in the certificate's SANs, policy rules name\n"
      "                 served methods, replay cache vs --signed-rate, store opens, ports free or\n"
      "                 held by this node, nginx forwards app_key/app_secret\n"
      "  client config: ca/cert/key, clientAuth, expiry, sign_key; then against the node: the\n"
      "                 handshake (chain, name, ALPN h2), its expiry, a Ping (node id vs\n"
      "                 audience, clock skew)\n"
      "  node config + --peer: the node's checks, then the peer's as this node calls it.");
  auto flags = std::make_shared<DoctorFlags>();
  cmd->add_option("--config,-c", flags->config, "Node config or client config (TOML)")->required();
  cmd->add_option("--peer", flags->peer,
                  "host:port to check calls against (client config: default its target)");
  cmd->add_option("--signed-rate", flags->signed_rate,
                  "Signed calls per second the replay cache must hold nonces for")
      ->default_val(1000)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--nginx-conf", flags->nginx_files,
                  "nginx file to look through for a grpc_pass to this node (repeatable; default "
                  "/etc/nginx/nginx.conf, conf.d/*.conf, sites-enabled/*)");
  cmd->add_option("--warn-days", flags->warn_days,
                  "Warn when a certificate or CRL has fewer days left than this")
      ->default_val(30)
      ->check(CLI::Range(1, 3650));
  cmd->add_flag("--no-ports", flags->no_ports, "Do not bind-test or probe the listen ports");
  AddOutputFlag(cmd, &flags->output);
  cmd->add_flag("--json", flags->json, "Same as --output json");
  cmd->callback([flags] { RunDoctor(*flags); });
}

}  // namespace nodegate::cli
