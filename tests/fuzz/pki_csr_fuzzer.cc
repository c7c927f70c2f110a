// Fuzzes the PEM/CSR input of AddNode and UploadCert: pki::ParseCsr and the CA's SignCsr directly,
// then both registry handlers through the rpc::MethodTable (real SQLite stores, the fixed CA):
// AddNode with an unknown join token (the CSR is parsed before the token is looked up) and
// UploadCert as the registered node-a, which signs the CSR and records the new serial.
// Input: the csr_pem field. A proto3 string must be UTF-8 (gRPC refuses the message otherwise), so
// only such inputs go through the handlers.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/utf8.h"
#include "nodegate/v1/registry.pb.h"
#include "pki/pem.h"
#include "rpc/message.h"
#include "services_fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nodegate;  // NOLINT(google-build-using-namespace)
  static auto* fixture = new fuzz::ServicesFixture();
  const std::string csr(reinterpret_cast<const char*>(data), size);

  if (pki::ParseCsr(csr, "csr_pem").ok()) {
    pki::IssueOptions o;
    o.common_name = "node-a";
    o.client = true;
    o.node_id = "node-a";
    (void)fixture->ca->SignCsr(csr, o);
  }

  if (!base::IsValidUtf8(csr)) return 0;
  nodegate::v1::AddNodeRequest add;
  add.set_join_token("not-a-join-token");
  add.set_node_id("node-z");
  add.set_algorithm("ed25519");
  add.set_public_key_pem(fuzz::kNodeAPublicKeyPem);
  add.set_csr_pem(csr);
  (void)fixture->Call("/nodegate.v1.NodeRegistry/AddNode", rpc::ToBuffer(add),
                      fixture->principals[0]);

  nodegate::v1::UploadCertRequest upload;
  upload.set_csr_pem(csr);
  (void)fixture->Call("/nodegate.v1.NodeRegistry/UploadCert", rpc::ToBuffer(upload),
                      fixture->principals[2]);
  return 0;
}
