// Client-side per-call credentials, composed with TLS channel credentials by tls::NewChannel.
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "crypto/signer.h"

namespace nodegate::auth {

// Signs every call per wire format v1 (docs/auth.md) as `node_id`, for the node `audience`.
std::shared_ptr<grpc::CallCredentials> NewSignatureCallCredentials(
    std::string node_id, std::string audience, std::shared_ptr<const crypto::Signer> signer);

enum class TokenHeader { kBearer, kAccessToken };  // authorization: Bearer … | access-token: …
std::shared_ptr<grpc::CallCredentials> NewTokenCallCredentials(
    std::string token, TokenHeader header = TokenHeader::kBearer);

// app-key/app-secret, or the seed's app_key/app_secret when `underscore` (nginx drops those
// unless underscores_in_headers is on).
std::shared_ptr<grpc::CallCredentials> NewAppKeyCallCredentials(std::string app_key,
                                                                std::string app_secret,
                                                                bool underscore = false);

}  // namespace nodegate::auth
