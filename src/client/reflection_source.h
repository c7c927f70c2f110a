// Descriptors fetched from a node's grpc.reflection.v1alpha.ServerReflection service over one
// stream (one call: with per-call signatures, one signature), file by file as names are looked
// up. Like grpcurl's reflection client, but over nodegate's channel and credentials.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/descriptor_source.h"
#include "client/metadata.h"

namespace nodegate::client {

struct ReflectionOptions {
  // Deadline of the reflection stream, from its first request to the last answer.
  absl::Duration timeout = absl::Seconds(10);
  Metadata metadata;  // sent on the stream, as on the call itself (grpcurl's -H)
};

class ReflectionSource : public DescriptorSource {
 public:
  // Opens no connection yet: the stream starts with the first lookup. `channel` carries the
  // credentials (TLS, and per-call credentials that apply to every call made on it).
  static std::unique_ptr<ReflectionSource> New(
      const std::shared_ptr<grpc::ChannelInterface>& channel, ReflectionOptions options);
  // Half-closes the stream and waits for its status, so that the node logs a clean end.
  ~ReflectionSource() override;
  ReflectionSource(const ReflectionSource&) = delete;
  ReflectionSource& operator=(const ReflectionSource&) = delete;

  absl::StatusOr<std::vector<std::string>> ListServices() override;
  const google::protobuf::DescriptorPool& pool() const override { return *pool_; }
  absl::Status LookupStatus() const override;
  std::string Where() const override { return "the node's reflection service"; }

 private:
  class Database;
  explicit ReflectionSource(std::unique_ptr<Database> database);

  std::unique_ptr<Database> database_;
  std::unique_ptr<google::protobuf::DescriptorPool> pool_;  // built on database_
};

}  // namespace nodegate::client
