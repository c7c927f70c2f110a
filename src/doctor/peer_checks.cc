#include "doctor/peer_checks.h"

#include <grpcpp/client_context.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/clock.h"
#include "base/files.h"
#include "crypto/key.h"
#include "doctor/checks.h"
#include "nodegate/v1/identity.grpc.pb.h"
#include "pki/certificate_check.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"
#include "server/config.h"
#include "tls/dial_diagnosis.h"

namespace nodegate::doctor {
namespace {

void Add(std::vector<Finding>* out, std::string check, Level level, std::string detail,
         std::string fix = "") {
  out->push_back({std::move(check), level, std::move(detail), std::move(fix)});
}

std::string Read(const std::string& field, const std::string& path, std::vector<Finding>* out,
                 bool* ok) {
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) {
    Add(out, absl::StrCat(field, " readable"), Level::kFail,
        absl::StrCat(field, ": ", text.status().message()),
        absl::StrCat("point ", field, " at the file, or make it readable by this user"));
    *ok = false;
    return "";
  }
  return *std::move(text);
}

}  // namespace

std::vector<Finding> CheckClientFiles(const tls::ClientTlsOptions& tls,
                                      const CallerIdentity& caller,
                                      const PeerCheckOptions& options) {
  std::vector<Finding> out;
  bool ok = true;
  const std::string ca_pem = Read("ca", tls.ca_file, &out, &ok);
  if (ok) {
    absl::StatusOr<std::vector<crypto::X509Ptr>> cas = pki::ParseCertificates(ca_pem, tls.ca_file);
    if (!cas.ok()) {
      Add(&out, "ca parses", Level::kFail, std::string(cas.status().message()),
          "point ca at the PEM bundle of the CA that issued the node's certificate");
    } else {
      Add(&out, "ca parses", Level::kOk,
          absl::StrCat(tls.ca_file, " (", cas->size(), " certificate(s))"));
    }
  }
  if (!tls.cert_file.empty()) {
    pki::CertificateCheckInput in;
    in.now = options.now;
    in.cert_pem = Read("cert", tls.cert_file, &out, &ok);
    in.cert_source = tls.cert_file;
    in.key_pem = Read("key", tls.key_file, &out, &ok);
    in.key_source = tls.key_file;
    in.ca_pem = ca_pem;
    in.ca_source = tls.ca_file;
    if (ok) {
      for (const pki::CertificateCheckResult& r : pki::CheckCertificate(in)) {
        const bool chain = r.what == "chains to CA";
        std::string check = r.what == "key matches" ? "key matches cert"
                            : chain                 ? "cert chains to ca"
                                                    : absl::StrCat("cert ", r.what);
        if (r.status.ok()) {
          Add(&out, check, Level::kOk, r.what == "parses" ? tls.cert_file : "");
        } else if (chain) {
          // The node verifies client certificates against its own tls.ca, which may be another CA.
          Add(&out, check, Level::kWarn, std::string(r.status.message()),
              "fine if the node trusts the CA that issued it (its tls.ca); otherwise issue the "
              "client certificate from the node's CA");
        } else {
          Add(&out, check, Level::kFail, std::string(r.status.message()),
              r.what == "key matches" ? "give the key the certificate was issued for"
                                      : "reissue it (nodegate pki issue --client)");
        }
      }
      if (absl::StatusOr<pki::CertificateInfo> info =
              pki::InspectCertificatePem(in.cert_pem, tls.cert_file);
          info.ok()) {
        out.push_back(CheckExpiry("cert expiry", info->not_after, options.now,
                                  options.expiry_warning, "reissue it before then"));
        out.push_back(CheckUsage("cert clientAuth", *info, "clientAuth",
                                 "reissue it with --client (nodegate pki issue --client)"));
      }
    }
  }
  if (!caller.sign_key.empty()) {
    bool read = true;
    const std::string pem = Read("sign_key", caller.sign_key, &out, &read);
    if (read) {
      // A private key: deriving its public half proves it parses; then its algorithm.
      absl::StatusOr<std::string> public_pem = crypto::PublicKeyPemFromPrivate(pem);
      absl::StatusOr<crypto::Algorithm> algorithm =
          public_pem.ok() ? crypto::DetectAlgorithm(pem)
                          : absl::StatusOr<crypto::Algorithm>(public_pem.status());
      if (!algorithm.ok()) {
        Add(&out, "sign_key parses", Level::kFail,
            absl::StrCat(caller.sign_key, ": ", algorithm.status().message()),
            "point sign_key at the private key registered for this node (nodegate keys)");
      } else {
        Add(&out, "sign_key parses", Level::kOk,
            absl::StrCat(caller.sign_key, " (", std::string(crypto::AlgorithmName(*algorithm)),
                         ")"));
      }
    }
  }
  return out;
}

std::vector<Finding> CheckPeer(const tls::ClientTlsOptions& tls, const CallerIdentity& caller,
                               const PeerCheckOptions& options) {
  std::vector<Finding> out;
  const std::string handshake = absl::StrCat("TLS handshake with ", tls.target);
  tls::DialProbe probe = tls::ProbeDial(tls, options.timeout);
  if (probe.outcome != tls::DialProbe::Outcome::kAccepted || probe.tls_version.empty()) {
    std::string sentence = tls::ExplainDialProbe(probe, tls);
    if (sentence.empty()) {
      sentence = probe.detail.empty() ? "the handshake did not complete" : probe.detail;
    }
    Add(&out, handshake, Level::kFail, sentence,
        "see the sentence; the node's access log names the refused handshake and why");
    return out;
  }
  Add(&out, handshake, Level::kOk,
      absl::StrCat(probe.tls_version, ", server ", probe.server_subject, " issued by ",
                   probe.server_issuer));
  if (probe.alpn == "h2") {
    Add(&out, "ALPN h2", Level::kOk, "the server agreed to h2");
  } else {
    Add(&out, "ALPN h2", Level::kFail,
        absl::StrCat("the server chose ", probe.alpn.empty() ? "no protocol" : probe.alpn,
                     ": gRPC needs h2"),
        "dial the node's gRPC port (grpc.listen), or let the proxy in front negotiate h2 (nginx: "
        "listen ... ssl http2)");
  }
  Add(&out, "server name", Level::kOk,
      absl::StrCat("the server's certificate names ", probe.expected_name,
                   " (it names: ", absl::StrJoin(probe.server_names, ", "), ")"));
  out.push_back(CheckExpiry("server certificate expiry", probe.server_not_after, options.now,
                            options.expiry_warning,
                            "tell the node's operator: its tls.cert needs reissuing"));

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = tls::NewChannel(tls);
  if (!channel.ok()) {
    Add(&out, "Ping", Level::kFail, std::string(channel.status().message()), "");
    return out;
  }
  auto stub = nodegate::v1::Identity::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  nodegate::v1::PingResponse response;
  base::Clock& clock = base::Clock::Real();
  const absl::Time sent = clock.Now();
  grpc::Status status = stub->Ping(&context, nodegate::v1::PingRequest(), &response);
  const absl::Time received = clock.Now();
  if (!status.ok()) {
    Add(&out, "Ping", Level::kFail,
        absl::StrCat("/nodegate.v1.Identity/Ping: ", status.error_message()),
        "the handshake passed, so read the node's log for this call");
    return out;
  }
  Add(&out, "Ping", Level::kOk,
      absl::StrCat("node id ", response.node_id(), " in ",
                   absl::FormatDuration(absl::Trunc(received - sent, absl::Microseconds(100)))));
  if (!caller.sign_key.empty() && !caller.audience.empty() &&
      caller.audience != response.node_id()) {
    Add(&out, "audience", Level::kFail,
        absl::StrCat("signed calls are addressed to '", caller.audience, "' but the node is '",
                     response.node_id(), "': it refuses them (wrong audience)"),
        absl::StrCat("set audience = \"", response.node_id(), "\""));
  }
  if (response.unix_time_ms() == 0) {
    Add(&out, absl::StrCat("clock against ", tls.target), Level::kWarn,
        "the node's Ping carries no time (a nodegate older than this one)", "");
  } else {
    const absl::Time middle = sent + (received - sent) / 2;
    out.push_back(CheckClockSkew(tls.target, absl::FromUnixMillis(response.unix_time_ms()) - middle,
                                 received - sent, !caller.sign_key.empty()));
  }
  return out;
}

absl::Status LoadClientSide(const std::string& config_path, const std::string& peer,
                            tls::ClientTlsOptions* tls, CallerIdentity* caller) {
  absl::StatusOr<server::ClientConfig> c = server::LoadClientConfig(config_path);
  if (!c.ok()) return c.status();
  tls->target = peer.empty() ? c->target : peer;
  tls->ca_file = c->ca;
  tls->cert_file = c->cert;
  tls->key_file = c->key;
  tls->server_name = c->server_name;
  caller->sign_key = c->sign_key;
  caller->audience = c->audience;
  return absl::OkStatus();
}

}  // namespace nodegate::doctor
