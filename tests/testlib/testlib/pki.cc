#include "testlib/pki.h"

#include <gtest/gtest.h>

#include <utility>

#include "crypto/digest.h"
#include "pki/certificate_info.h"
#include "testlib/files.h"
#include "testlib/status.h"

namespace nodegate::testlib {

TestCa::TestCa(const std::string& common_name) {
  pki::CaOptions options;
  options.common_name = common_name;
  pair_ = Unwrap(pki::CertificateAuthority::Create(options));
  ca_ = Unwrap(pki::CertificateAuthority::Load(pair_.cert_pem, pair_.key_pem));
}

pki::PemPair TestCa::Issue(const pki::IssueOptions& options) const {
  return Unwrap(ca_->Issue(options));
}

pki::PemPair TestCa::IssueServer(absl::Time not_before, absl::Time not_after,
                                 const std::string& common_name) const {
  pki::IssueOptions o;
  o.common_name = common_name;
  o.server = true;
  o.sans = {"localhost", "127.0.0.1"};
  o.not_before = not_before;
  o.not_after = not_after;
  return Issue(o);
}

pki::PemPair TestCa::IssueClient(const std::string& node_id) const {
  pki::IssueOptions o;
  o.common_name = node_id;
  o.client = true;
  o.node_id = node_id;
  return Issue(o);
}

std::string TestCa::Crl(const std::vector<std::string>& serials) const {
  return Unwrap(ca_->MakeCrl(serials));
}

std::string SerialOf(const std::string& cert_pem) {
  return Unwrap(pki::InspectCertificatePem(cert_pem, "test cert")).serial_hex;
}

std::shared_ptr<const tls::CredentialSet> MakeCredentialSet(const pki::PemPair& leaf,
                                                            const std::string& ca_pem) {
  auto set = std::make_shared<tls::CredentialSet>();
  set->cert_chain_pem = leaf.cert_pem;
  set->key_pem = leaf.key_pem;
  set->ca_pem = ca_pem;
  set->leaf = Unwrap(pki::InspectCertificatePem(leaf.cert_pem, "leaf"));
  set->content_digest = crypto::Sha256Hex(leaf.cert_pem + leaf.key_pem + ca_pem);
  return set;
}

TestPki TestPki::Make() {
  TestCa ca;
  TestPki t;
  t.ca = ca.pair();
  t.server = ca.IssueServer();
  t.client = ca.IssueClient("dev-client");
  return t;
}

std::shared_ptr<const tls::CredentialSet> TestPki::ServerSet() const {
  return MakeCredentialSet(server, ca.cert_pem);
}

PkiDir::PkiDir(const std::string& ca_name) : dir_("pki"), ca_(ca_name) {
  Write("ca.pem", ca_.cert_pem());
}

tls::TlsFiles PkiDir::Issue(const std::string& name, bool server) {
  pki::PemPair pair = server ? ca_.IssueServer(absl::InfinitePast(), absl::InfinitePast(), name)
                             : ca_.IssueClient(name);
  Write(name + ".pem", pair.cert_pem);
  Write(name + "-key.pem", pair.key_pem);
  return tls::TlsFiles{Path(name + ".pem"), Path(name + "-key.pem"), ca_path(), ""};
}

void PkiDir::Write(const std::string& file, std::string_view content) const {
  WriteFile(dir_.File(file), content);
}

}  // namespace nodegate::testlib
