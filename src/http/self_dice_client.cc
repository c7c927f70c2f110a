#include "http/self_dice_client.h"

#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "api/dice.grpc.pb.h"

namespace nodegate::http {

absl::StatusOr<std::unique_ptr<SelfDiceClient>> SelfDiceClient::New(tls::ClientTlsOptions tls,
                                                                     absl::Duration timeout) {
  if (tls.target.empty()) return absl::InvalidArgumentError("self client: target required");
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("self client: timeout must be positive");
  }
  // Fail at start-up, not at the first click, when a file is missing or does not parse.
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = tls::NewChannelCredentials(tls);
  if (!creds.ok()) return creds.status();
  return std::unique_ptr<SelfDiceClient>(new SelfDiceClient(std::move(tls), timeout));
}

absl::StatusOr<int> SelfDiceClient::Roll(
    const std::vector<std::pair<std::string, std::string>>& metadata) const {
  // A fresh channel per roll: a click is rare, and this way a rotated client certificate or CA is
  // always the one on disk.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = tls::NewChannel(tls_);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<api::DiceService::Stub> stub = api::DiceService::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  for (const auto& [key, value] : metadata) ctx.AddMetadata(key, value);
  api::RollDieRequest request;
  api::RollDieResponse response;
  grpc::Status s = stub->RollDie(&ctx, request, &response);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  return response.value();
}

}  // namespace nodegate::http
