#include "cli/descriptor_flags.h"

#include "absl/strings/match.h"
#include "cli/commands.h"
#include "client/proto_file_source.h"
#include "client/reflection_source.h"
#include "client/rpc_error.h"
#include "tls/channel.h"

namespace nodegate::cli {

void AddDescriptorFlags(CLI::App* cmd, DescriptorFlags* f) {
  AddClientFlags(cmd, &f->client);
  cmd->add_option("--proto", f->protos,
                  "Take message types from this .proto file instead of the node's reflection "
                  "service (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--import-path,-I", f->import_paths,
                  "Directory that --proto files and their imports are relative to (repeatable; "
                  "default .)")
      ->allow_extra_args(false);
  cmd->add_option("-H,--header", f->headers,
                  "Metadata 'key: value' for every call, reflection included (repeatable; a "
                  "-bin key takes base64)")
      ->allow_extra_args(false);  // one value per -H: a method or argument after it stays one
  cmd->add_option("--timeout", f->timeout, "Deadline per call")->capture_default_str();
}

Session OpenSession(DescriptorFlags f, const std::string& command) {
  ApplyClientConfig(&f.client, command);
  if (f.client.target.empty()) Fail(command, "no target: give --target or --config", kUsageExit);
  if (f.client.ca.empty()) Fail(command, "no CA: give --ca or --config", kUsageExit);
  Session session;
  if (!absl::ParseDuration(f.timeout, &session.timeout) ||
      session.timeout <= absl::ZeroDuration()) {
    Fail(command, "--timeout: '" + f.timeout + "' is not a positive duration such as 10s",
         kUsageExit);
  }
  if (!f.import_paths.empty() && f.protos.empty()) {
    Fail(command, "--import-path is for --proto files; give --proto FILE too", kUsageExit);
  }
  absl::StatusOr<client::Metadata> metadata = client::ParseHeaders(f.headers);
  if (!metadata.ok()) Fail(command, std::string(metadata.status().message()), kUsageExit);
  session.metadata = *std::move(metadata);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      tls::NewChannel(TlsOptions(f.client), CallCredentials(f.client, command));
  if (!channel.ok()) Fail(command, std::string(channel.status().message()), kUsageExit);
  session.channel = *std::move(channel);
  if (!f.protos.empty()) {
    absl::StatusOr<std::unique_ptr<client::ProtoFileSource>> source =
        client::ProtoFileSource::New(f.protos, f.import_paths);
    if (!source.ok()) Fail(command, std::string(source.status().message()));
    session.source = *std::move(source);
  } else {
    session.source = client::ReflectionSource::New(
        session.channel, client::ReflectionOptions{session.timeout, session.metadata});
  }
  return session;
}

void FailStatus(const std::string& command, const absl::Status& status, const ClientFlags& client,
                int local_code) {
  std::optional<grpc::StatusCode> rpc = client::RpcCode(status);
  if (!rpc.has_value()) Fail(command, std::string(status.message()), local_code);
  // One way out for an RPC error (FailRpc: code name, message, hint, exit 64 + code).
  std::string hint;
  if (*rpc == grpc::StatusCode::UNIMPLEMENTED && absl::StartsWith(status.message(), "reflection")) {
    hint = " (the node does not serve reflection: give the types with --proto FILE)";
  }
  if (*rpc == grpc::StatusCode::UNAVAILABLE) {
    hint += DialFailureHint(client, grpc::Status(grpc::StatusCode::UNAVAILABLE, ""));
  }
  FailRpc(command, "", grpc::Status(*rpc, std::string(status.message())), hint);
}

}  // namespace nodegate::cli
