#include "auth/call_credentials.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/signature_v1.h"
#include "crypto/encoding.h"
#include "crypto/random.h"

namespace nodegate::auth {
namespace {

// service_url is "https://host:port/pkg.Service"; gRPC hands the bare method name separately
// (facts §6). The signed path is "/pkg.Service/Method".
std::string FullMethod(grpc::string_ref service_url, grpc::string_ref method_name) {
  std::string_view url(service_url.data(), service_url.size());
  size_t scheme = url.find("://");
  size_t path = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  std::string out(path == std::string_view::npos ? std::string_view("/") : url.substr(path));
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(method_name.data(), method_name.size());
  return out;
}

class SignaturePlugin : public grpc::MetadataCredentialsPlugin {
 public:
  SignaturePlugin(std::string node_id, std::string audience,
                  std::shared_ptr<const crypto::Signer> signer)
      : node_id_(std::move(node_id)), audience_(std::move(audience)), signer_(std::move(signer)) {}

  bool IsBlocking() const override { return false; }
  const char* GetType() const override { return "nodegate.signature.v1"; }

  grpc::Status GetMetadata(grpc::string_ref service_url, grpc::string_ref method_name,
                           const grpc::AuthContext& /*channel_auth_context*/,
                           std::multimap<std::string, std::string>* metadata) override {
    absl::StatusOr<std::string> nonce_bytes = crypto::RandomBytes(16);
    if (!nonce_bytes.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "nonce: RNG failed");
    const std::string nonce = crypto::Base64UrlEncode(*nonce_bytes);
    const std::string ts = absl::StrCat(absl::ToUnixMillis(absl::Now()));
    const std::string data =
        sigv1::StringToSign(FullMethod(service_url, method_name), audience_, node_id_, ts, nonce);
    absl::StatusOr<std::string> sig = signer_->Sign(data);
    if (!sig.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "signing the call failed");
    metadata->emplace(std::string(sigv1::kNodeIdHeader), node_id_);
    metadata->emplace(std::string(sigv1::kTimestampHeader), ts);
    metadata->emplace(std::string(sigv1::kNonceHeader), nonce);
    metadata->emplace(std::string(sigv1::kSignatureHeader), crypto::Base64UrlEncode(*sig));
    return grpc::Status::OK;
  }

 private:
  const std::string node_id_;
  const std::string audience_;
  const std::shared_ptr<const crypto::Signer> signer_;
};

class StaticPlugin : public grpc::MetadataCredentialsPlugin {
 public:
  explicit StaticPlugin(std::multimap<std::string, std::string> md) : md_(std::move(md)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<std::string, std::string>* metadata) override {
    metadata->insert(md_.begin(), md_.end());
    return grpc::Status::OK;
  }

 private:
  const std::multimap<std::string, std::string> md_;
};

}  // namespace

std::shared_ptr<grpc::CallCredentials> NewSignatureCallCredentials(
    std::string node_id, std::string audience, std::shared_ptr<const crypto::Signer> signer) {
  return grpc::MetadataCredentialsFromPlugin(std::make_unique<SignaturePlugin>(
      std::move(node_id), std::move(audience), std::move(signer)));
}

std::shared_ptr<grpc::CallCredentials> NewTokenCallCredentials(std::string token,
                                                               TokenHeader header) {
  std::multimap<std::string, std::string> md;
  if (header == TokenHeader::kBearer) {
    md.emplace("authorization", absl::StrCat("Bearer ", token));
  } else {
    md.emplace("access-token", std::move(token));
  }
  return grpc::MetadataCredentialsFromPlugin(std::make_unique<StaticPlugin>(std::move(md)));
}

std::shared_ptr<grpc::CallCredentials> NewAppKeyCallCredentials(std::string app_key,
                                                                std::string app_secret,
                                                                bool underscore) {
  std::multimap<std::string, std::string> md;
  md.emplace(underscore ? "app_key" : "app-key", std::move(app_key));
  md.emplace(underscore ? "app_secret" : "app-secret", std::move(app_secret));
  return grpc::MetadataCredentialsFromPlugin(std::make_unique<StaticPlugin>(std::move(md)));
}

}  // namespace nodegate::auth
