#include "auth/forwarded_identity.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "crypto/digest.h"
#include "crypto/encoding.h"
#include "pki/certificate_info.h"
#include "pki/pem.h"

namespace nodegate::auth {
namespace {

constexpr size_t kMaxHeaderBytes = size_t{16} * 1024;
constexpr size_t kMaxCacheEntries = 4096;

}  // namespace

absl::Status ForwardedCertVerifier::RebuildStoreLocked(const tls::CredentialSet& set) {
  auto roots = pki::ParseCertificates(set.ca_pem, "tls.ca");
  if (!roots.ok()) return roots.status();
  crypto::X509StorePtr store(X509_STORE_new());
  for (auto& root : *roots) X509_STORE_add_cert(store.get(), root.get());
  if (!set.crl_pem.empty()) {
    // The same revocation list as the TLS listener; with a CRL configured, a forwarded
    // certificate whose CA has no CRL in it is refused (fail closed).
    auto crls = pki::ParseCrls(set.crl_pem, "tls.crl");
    if (!crls.ok()) return crls.status();
    for (auto& crl : *crls) X509_STORE_add_crl(store.get(), crl.get());
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  }
  store_ = std::move(store);
  store_digest_ = set.content_digest;
  cache_.clear();  // a new CA (or CRL) may invalidate what was verified before
  return absl::OkStatus();
}

absl::StatusOr<tls::PeerIdentity> ForwardedCertVerifier::Verify(std::string_view header_value,
                                                                absl::Time now) {
  if (header_value.empty() || header_value.size() > kMaxHeaderBytes) {
    return absl::UnauthenticatedError("forwarded certificate: empty or too large");
  }
  std::shared_ptr<const tls::CredentialSet> set = trust_();
  if (set == nullptr || set->ca_pem.empty()) {
    return absl::UnauthenticatedError("forwarded certificate: this node has no CA to verify it");
  }
  const std::string key = crypto::Sha256(header_value);
  std::lock_guard<std::mutex> lock(mu_);
  if (set->content_digest != store_digest_) {
    if (absl::Status s = RebuildStoreLocked(*set); !s.ok()) return s;
  }
  if (auto it = cache_.find(key); it != cache_.end() && now < it->second.not_after) {
    return it->second.identity;
  }
  const std::string pem = crypto::PercentDecode(header_value);
  auto certs = pki::ParseCertificates(pem, "forwarded certificate");
  if (!certs.ok()) return absl::UnauthenticatedError("forwarded certificate: does not parse");
  X509* leaf = certs->front().get();
  crypto::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store_.get(), leaf, nullptr);
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(now));
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  int ok = X509_verify_cert(ctx.get());
  ERR_clear_error();
  if (ok != 1) {
    return absl::UnauthenticatedError("forwarded certificate: does not verify against the CA");
  }
  auto info = pki::DescribeCertificate(leaf);
  if (!info.ok()) return absl::UnauthenticatedError("forwarded certificate: unreadable");
  tls::PeerIdentity id;
  id.authenticated = true;
  id.common_name = info->common_name;
  for (const std::string& uri : info->uris) {
    if (uri.rfind("spiffe://", 0) == 0) {
      id.spiffe_id = uri;
      break;
    }
  }
  id.transport = "forwarded";
  id.serial_hex = info->serial_hex;
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_[key] = Entry{id, info->not_after};
  return id;
}

}  // namespace nodegate::auth
