// nodegate pki init|issue|revoke|crl|inspect: a small CA in a directory (see pki/pki_dir.h).
#include <iostream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/files.h"
#include "cli/commands.h"
#include "pki/certificate_info.h"
#include "pki/pki_dir.h"

namespace nodegate::cli {
namespace {

struct IssueFlags {
  std::string dir, name, out_dir, node_id, trust_domain = "nodegate.local", key_type = "ecdsa-p256";
  std::string sans, not_before, not_after;
  bool server = false, client = false, force = false;
  int days = 365;
};

absl::Time ParseTimeFlag(const std::string& flag, const std::string& value) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, value, &t, &err)) {
    Fail("pki issue",
         flag + ": '" + value + "' is not RFC 3339 (e.g. 2026-01-02T15:04:05Z): " + err, 2);
  }
  return t;
}

void Issue(const IssueFlags& f) {
  if (!f.server && !f.client) Fail("pki issue", "say --server, --client, or both", 2);
  if (f.days <= 0) Fail("pki issue", "--days must be positive", 2);
  pki::IssueOptions o;
  o.common_name = !f.node_id.empty() && f.client ? f.node_id : f.name;
  o.server = f.server;
  o.client = f.client;
  for (absl::string_view s : absl::StrSplit(f.sans, ',', absl::SkipWhitespace())) {
    o.sans.emplace_back(s);
  }
  o.node_id = f.client ? (f.node_id.empty() ? f.name : f.node_id) : f.node_id;
  o.trust_domain = f.trust_domain;
  absl::StatusOr<pki::KeyType> kt = pki::ParseKeyType(f.key_type);
  if (!kt.ok()) Fail("pki issue", std::string(kt.status().message()), 2);
  o.key_type = *kt;
  o.validity = absl::Hours(24) * f.days;
  if (!f.not_before.empty()) o.not_before = ParseTimeFlag("--not-before", f.not_before);
  if (!f.not_after.empty()) o.not_after = ParseTimeFlag("--not-after", f.not_after);
  absl::StatusOr<std::string> path = pki::PkiDir(f.dir).Issue(f.name, o, f.out_dir, f.force);
  if (!path.ok()) Fail("pki issue", std::string(path.status().message()));
  absl::StatusOr<std::string> pem = base::ReadFile(*path);
  auto info = pki::InspectCertificatePem(*pem, *path);
  std::cout << "issued " << *path << " serial " << info->serial_hex << " ("
            << absl::StrJoin(info->sans, ", ") << ")" << std::endl;
}

void Inspect(const std::string& file) {
  absl::StatusOr<std::string> pem = base::ReadFile(file);
  if (!pem.ok()) Fail("pki inspect", std::string(pem.status().message()));
  absl::StatusOr<pki::CertificateInfo> info = pki::InspectCertificatePem(*pem, file);
  if (!info.ok()) Fail("pki inspect", std::string(info.status().message()));
  auto fmt = [](absl::Time t) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
  };
  absl::Time now = absl::Now();
  std::cout << "subject: " << info->subject << "\n"
            << "issuer: " << info->issuer << "\n"
            << "serial: " << info->serial_hex << "\n"
            << "sans: " << absl::StrJoin(info->sans, ", ") << "\n"
            << "not_before: " << fmt(info->not_before) << "\n"
            << "not_after: " << fmt(info->not_after)
            << (now > info->not_after
                    ? " (EXPIRED)"
                    : " (" + std::to_string(absl::ToInt64Hours(info->not_after - now) / 24) +
                          " days left)")
            << "\n"
            << "key_type: " << info->key_type << "\n"
            << "is_ca: " << (info->is_ca ? "true" : "false") << "\n"
            << "sha256_fingerprint: " << info->sha256_fingerprint << std::endl;
}

}  // namespace

void AddPkiCommand(CLI::App& app) {
  auto* pki = app.add_subcommand(
      "pki", "A small CA in a directory: DIR/ca.pem, DIR/ca-key.pem, issued certs, CRL.");
  pki->require_subcommand(1);

  auto* init = pki->add_subcommand("init", "Create a CA: DIR/ca.pem and DIR/ca-key.pem (0600).");
  auto ca = std::make_shared<std::tuple<std::string, std::string, std::string, int, bool>>(
      "", "ecdsa-p256", "nodegate CA", 3650, false);
  init->add_option("--dir", std::get<0>(*ca), "CA directory")->required();
  init->add_option("--key-type", std::get<1>(*ca), "ecdsa-p256 | ed25519 | rsa-3072")
      ->capture_default_str();
  init->add_option("--cn", std::get<2>(*ca), "CA common name")->capture_default_str();
  init->add_option("--days", std::get<3>(*ca), "Validity in days")->capture_default_str();
  init->add_flag("--force", std::get<4>(*ca), "Replace an existing CA");
  init->callback([ca] {
    auto& [dir, key_type, cn, days, force] = *ca;
    absl::StatusOr<pki::KeyType> kt = pki::ParseKeyType(key_type);
    if (!kt.ok()) Fail("pki init", std::string(kt.status().message()), 2);
    if (days <= 0) Fail("pki init", "--days must be positive", 2);
    pki::CaOptions o{*kt, cn, absl::Hours(24) * days};
    pki::PkiDir d(dir);
    absl::Status s = d.Init(o, force);
    if (!s.ok()) Fail("pki init", std::string(s.message()));
    std::cout << "created " << d.ca_cert_path() << " and " << d.ca_key_path() << std::endl;
  });

  auto* issue = pki->add_subcommand(
      "issue",
      "Issue a certificate signed by DIR's CA: OUT/NAME.pem and OUT/NAME-key.pem (0600).\n"
      "Client certs carry the node id as CN and as URI SAN spiffe://<trust-domain>/node/<id>.");
  auto f = std::make_shared<IssueFlags>();
  issue->add_option("--dir", f->dir, "CA directory")->required();
  issue->add_option("--name", f->name, "File name (and default CN / node id)")->required();
  issue->add_flag("--server", f->server, "For a server (serverAuth, DNS/IP SANs)");
  issue->add_flag("--client", f->client, "For a client (clientAuth, node id SAN)");
  issue->add_option("--san", f->sans, "Comma-separated DNS names, IPs or URIs");
  issue->add_option("--node-id", f->node_id, "Node id (default: NAME for client certs)");
  issue->add_option("--trust-domain", f->trust_domain, "SPIFFE trust domain")
      ->capture_default_str();
  issue->add_option("--key-type", f->key_type, "ecdsa-p256 | ed25519 | rsa-3072")
      ->capture_default_str();
  issue->add_option("--days", f->days, "Validity in days")->capture_default_str();
  issue->add_option("--not-before", f->not_before, "Start of validity, RFC 3339 (default: now-5m)");
  issue->add_option("--not-after", f->not_after, "End of validity, RFC 3339 (overrides --days)");
  issue->add_option("--out-dir", f->out_dir, "Where to write (default: DIR)");
  issue->add_flag("--force", f->force, "Replace existing files");
  issue->callback([f] { Issue(*f); });

  auto* revoke = pki->add_subcommand(
      "revoke", "Revoke a certificate: add its serial to DIR/revoked.txt, rewrite DIR/crl.pem.");
  auto rv = std::make_shared<std::pair<std::string, std::string>>();
  revoke->add_option("--dir", rv->first, "CA directory")->required();
  revoke->add_option("--cert", rv->second, "Certificate file to revoke")->required();
  revoke->callback([rv] {
    absl::StatusOr<std::string> serial = pki::PkiDir(rv->first).Revoke(rv->second);
    if (!serial.ok()) Fail("pki revoke", std::string(serial.status().message()));
    std::cout << "revoked serial " << *serial << "; wrote " << pki::PkiDir(rv->first).crl_path()
              << std::endl;
  });

  auto* crl = pki->add_subcommand("crl", "(Re)write DIR/crl.pem from DIR/revoked.txt.");
  auto cd = std::make_shared<std::pair<std::string, int>>("", 30);
  crl->add_option("--dir", cd->first, "CA directory")->required();
  crl->add_option("--days", cd->second, "CRL validity (nextUpdate) in days")->capture_default_str();
  crl->callback([cd] {
    pki::PkiDir d(cd->first);
    absl::Status s = d.WriteCrl(absl::Hours(24) * cd->second);
    if (!s.ok()) Fail("pki crl", std::string(s.message()));
    std::cout << "wrote " << d.crl_path() << std::endl;
  });

  auto* inspect = pki->add_subcommand(
      "inspect", "Print a certificate's subject, SANs, validity, key type and fingerprint.");
  auto file = std::make_shared<std::string>();
  inspect->add_option("file", *file, "PEM certificate")->required();
  inspect->callback([file] { Inspect(*file); });
}

}  // namespace nodegate::cli
