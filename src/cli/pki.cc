// nodegate pki init|issue|sign-csr|revoke|crl|inspect|verify: a small CA in a directory (see
// pki/pki_dir.h).
#include <iostream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/files.h"
#include "cli/commands.h"
#include "cli/store_access.h"
#include "nlohmann/json.hpp"
#include "pki/certificate_check.h"
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
            << absl::StrJoin(info->sans, ", ") << "; "
            << absl::StrJoin(info->extended_key_usage, ", ") << ")" << std::endl;
}

std::string Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// "(EXPIRED)" or "(N days left)" after a time that ends a validity.
std::string Left(absl::Time end, absl::Time now) {
  if (now > end) return " (EXPIRED)";
  return " (" + std::to_string(absl::ToInt64Hours(end - now) / 24) + " days left)";
}

std::string ListOrDash(const std::vector<std::string>& v) {
  return v.empty() ? "-" : absl::StrJoin(v, ", ");
}

void InspectCrl(const std::string& file, const std::string& pem, bool json) {
  absl::StatusOr<pki::CrlInfo> crl = pki::InspectCrlPem(pem, file);
  if (!crl.ok()) Fail("pki inspect", std::string(crl.status().message()));
  const bool has_next = crl->next_update != absl::InfinitePast();
  const absl::Time now = absl::Now();
  if (json) {
    std::cout << nlohmann::json{{"type", "crl"},
                                {"issuer", crl->issuer},
                                {"last_update", Utc(crl->last_update)},
                                {"next_update", has_next ? nlohmann::json(Utc(crl->next_update))
                                                         : nlohmann::json(nullptr)},
                                {"expired", has_next && now > crl->next_update},
                                {"revoked_serials", crl->revoked_serials}}
                     .dump(2)
              << std::endl;
    return;
  }
  std::cout << "type: crl\n"
            << "issuer: " << crl->issuer << "\n"
            << "last_update: " << Utc(crl->last_update) << "\n"
            << "next_update: "
            << (has_next ? Utc(crl->next_update) + Left(crl->next_update, now) : "-") << "\n"
            << "revoked: " << crl->revoked_serials.size() << "\n";
  for (const std::string& serial : crl->revoked_serials) std::cout << "  " << serial << "\n";
  std::cout << std::flush;
}

void Inspect(const std::string& file, bool json) {
  absl::StatusOr<std::string> pem = base::ReadFile(file);
  if (!pem.ok()) Fail("pki inspect", std::string(pem.status().message()));
  if (pem->find("-----BEGIN X509 CRL-----") != std::string::npos) {
    InspectCrl(file, *pem, json);
    return;
  }
  absl::StatusOr<pki::CertificateInfo> info = pki::InspectCertificatePem(*pem, file);
  if (!info.ok()) Fail("pki inspect", std::string(info.status().message()));
  absl::Time now = absl::Now();
  if (json) {
    std::cout << nlohmann::json{{"type", "certificate"},
                                {"subject", info->subject},
                                {"issuer", info->issuer},
                                {"serial", info->serial_hex},
                                {"sans", info->sans},
                                {"not_before", Utc(info->not_before)},
                                {"not_after", Utc(info->not_after)},
                                {"expired", now > info->not_after},
                                {"key_type", info->key_type},
                                {"is_ca", info->is_ca},
                                {"key_usage", info->key_usage},
                                {"extended_key_usage", info->extended_key_usage},
                                {"sha256_fingerprint", info->sha256_fingerprint}}
                     .dump(2)
              << std::endl;
    return;
  }
  std::cout << "type: certificate\n"
            << "subject: " << info->subject << "\n"
            << "issuer: " << info->issuer << "\n"
            << "serial: " << info->serial_hex << "\n"
            << "sans: " << absl::StrJoin(info->sans, ", ") << "\n"
            << "not_before: " << Utc(info->not_before) << "\n"
            << "not_after: " << Utc(info->not_after) << Left(info->not_after, now) << "\n"
            << "key_type: " << info->key_type << "\n"
            << "is_ca: " << (info->is_ca ? "true" : "false") << "\n"
            << "key_usage: " << ListOrDash(info->key_usage) << "\n"
            << "extended_key_usage: " << ListOrDash(info->extended_key_usage) << "\n"
            << "sha256_fingerprint: " << info->sha256_fingerprint << std::endl;
}

struct VerifyFlags {
  std::string cert, key, ca;
};

void Verify(const VerifyFlags& f) {
  pki::CertificateCheckInput in;
  auto read = [](const std::string& path, std::string* out) {
    absl::StatusOr<std::string> pem = base::ReadFile(path);
    if (!pem.ok()) Fail("pki verify", std::string(pem.status().message()));
    *out = *std::move(pem);
  };
  read(f.cert, &in.cert_pem);
  in.cert_source = f.cert;
  if (!f.key.empty()) {
    read(f.key, &in.key_pem);
    in.key_source = f.key;
  }
  if (!f.ca.empty()) {
    read(f.ca, &in.ca_pem);
    in.ca_source = f.ca;
  }
  std::string first_failure;
  for (const pki::CertificateCheckResult& r : pki::CheckCertificate(in)) {
    if (r.status.ok()) {
      std::cout << "ok    " << r.what << "\n";
    } else {
      std::cout << "FAIL  " << r.what << ": " << r.status.message() << "\n";
      if (first_failure.empty()) first_failure = std::string(r.status.message());
    }
  }
  std::cout << std::flush;
  if (!first_failure.empty()) Fail("pki verify", first_failure);
}

struct SignCsrFlags {
  std::string dir, csr, out, cn, sans, node_id, trust_domain = "nodegate.local";
  bool server = false, client = false, force = false;
  int days = 365;
};

void SignCsr(const SignCsrFlags& f) {
  if (!f.server && !f.client) Fail("pki sign-csr", "say --server, --client, or both", 2);
  if (f.days <= 0) Fail("pki sign-csr", "--days must be positive", 2);
  // A client certificate's CN (or its SPIFFE URI) is the node id the whole fleet authorises: it
  // is the CA's decision, never the requester's, like the SANs and usages below.
  if (f.client && f.cn.empty() && f.node_id.empty()) {
    Fail("pki sign-csr",
         "a --client certificate names a node: give --cn or --node-id (the CSR's own CN is the "
         "requester's choice, so it is not taken for a client certificate)",
         2);
  }
  pki::IssueOptions o;
  o.common_name = f.cn;
  if (o.common_name.empty()) {
    absl::StatusOr<std::string> csr = base::ReadFile(f.csr);
    if (!csr.ok()) Fail("pki sign-csr", std::string(csr.status().message()));
    absl::StatusOr<std::string> cn = pki::CsrCommonName(*csr, f.csr);
    if (!cn.ok()) Fail("pki sign-csr", std::string(cn.status().message()));
    if (cn->empty()) Fail("pki sign-csr", f.csr + ": the CSR has no CN; give --cn", 2);
    o.common_name = *cn;
  }
  o.server = f.server;
  o.client = f.client;
  for (absl::string_view s : absl::StrSplit(f.sans, ',', absl::SkipWhitespace())) {
    o.sans.emplace_back(s);
  }
  o.node_id = f.node_id;
  o.trust_domain = f.trust_domain;
  o.validity = absl::Hours(24) * f.days;
  absl::Status s = pki::PkiDir(f.dir).SignCsr(f.csr, o, f.out, f.force);
  if (!s.ok()) Fail("pki sign-csr", std::string(s.message()));
  absl::StatusOr<std::string> pem = base::ReadFile(f.out);
  absl::StatusOr<pki::CertificateInfo> info =
      pem.ok() ? pki::InspectCertificatePem(*pem, f.out)
               : absl::StatusOr<pki::CertificateInfo>(pem.status());
  if (!info.ok()) Fail("pki sign-csr", std::string(info.status().message()));
  std::cout << "signed " << f.out << " serial " << info->serial_hex << " (CN " << o.common_name
            << "; " << ListOrDash(info->sans) << "; " << ListOrDash(info->extended_key_usage) << ")"
            << std::endl;
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
  issue->add_flag("--server", f->server,
                  "For a server (serverAuth, DNS/IP SANs); with --client too, both usages (a "
                  "node's certificate that also calls peers)");
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
  auto cd = std::make_shared<std::pair<std::string, int>>(
      "", static_cast<int>(absl::ToInt64Hours(pki::kDefaultCrlValidity) / 24));
  crl->add_option("--dir", cd->first, "CA directory")->required();
  crl->add_option("--days", cd->second, "CRL validity (nextUpdate) in days")->capture_default_str();
  crl->callback([cd] {
    if (cd->second <= 0) {
      Fail("pki crl",
           "--days must be positive: a CRL past its nextUpdate makes the node refuse every client "
           "of the CA",
           2);
    }
    pki::PkiDir d(cd->first);
    absl::Status s = d.WriteCrl(absl::Hours(24) * cd->second);
    if (!s.ok()) Fail("pki crl", std::string(s.message()));
    std::cout << "wrote " << d.crl_path() << " (next update in " << cd->second << " days)"
              << std::endl;
  });

  auto* inspect = pki->add_subcommand(
      "inspect",
      "Print a certificate's subject, SANs, validity, key type, key usages and fingerprint, or a\n"
      "CRL's issuer, lastUpdate, nextUpdate and revoked serials.");
  auto file = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>("text");
  inspect->add_option("file", *file, "PEM certificate or CRL")->required();
  AddOutputFlag(inspect, output.get());
  inspect->callback([file, output] { Inspect(*file, *output == "json"); });

  auto* verify = pki->add_subcommand(
      "verify",
      "Check a certificate: within its validity, chains to --ca, matches --key. Exit 1 with the\n"
      "reason when a check fails.");
  auto vf = std::make_shared<VerifyFlags>();
  verify->add_option("--cert", vf->cert, "PEM certificate (leaf first, then intermediates)")
      ->required();
  verify->add_option("--key", vf->key, "Its private key");
  verify->add_option("--ca", vf->ca, "CA certificate(s) it must chain to");
  verify->callback([vf] { Verify(*vf); });

  auto* sign = pki->add_subcommand(
      "sign-csr",
      "Sign a certificate request with DIR's CA (as `openssl x509 -req -CA`). The CSR gives the\n"
      "public key (its signature is checked) and, unless --cn, the CN of a --server-only\n"
      "certificate; SANs, usages and a client certificate's identity (--cn or --node-id) come\n"
      "from the flags only, never from the CSR.");
  auto sf = std::make_shared<SignCsrFlags>();
  sign->add_option("--dir", sf->dir, "CA directory")->required();
  sign->add_option("--csr", sf->csr, "PEM certificate request")->required();
  sign->add_option("--out", sf->out, "Certificate file to write")->required();
  sign->add_option(
      "--cn", sf->cn,
      "Subject CN (default for --server only: the CSR's; --client needs --cn or --node-id)");
  sign->add_flag("--server", sf->server, "serverAuth usage");
  sign->add_flag("--client", sf->client, "clientAuth usage");
  sign->add_option("--san", sf->sans, "Comma-separated DNS names, IPs or URIs");
  sign->add_option("--node-id", sf->node_id, "Adds URI SAN spiffe://<trust-domain>/node/<id>");
  sign->add_option("--trust-domain", sf->trust_domain, "SPIFFE trust domain")
      ->capture_default_str();
  sign->add_option("--days", sf->days, "Validity in days")->capture_default_str();
  sign->add_flag("--force", sf->force, "Replace an existing --out");
  sign->callback([sf] { SignCsr(*sf); });
}

}  // namespace nodegate::cli
