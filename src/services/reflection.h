// grpc.reflection.v1alpha.ServerReflection, served as an rpc::MethodTable handler instead of
// gRPC's reflection plugin: a service registered with the ServerBuilder would bypass the
// Authorizer that the server core runs at dispatch. What it describes comes from protobuf's
// generated pool, i.e. the .proto files linked into the binary; answers follow gRPC's own
// implementation (proto_server_reflection.cc): one response per request, errors as
// error_response, never as a failed call.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "rpc/method_table.h"

namespace nodegate::services {

class ReflectionService {
 public:
  // `services`: the full names listed by list_services ("nodegate.v1.KeyValue"), as given. A
  // service left out is not listed, but its file can still be fetched by name or symbol: the
  // descriptors are public by nature (clients are built from the same .proto files).
  explicit ReflectionService(std::vector<std::string> services);

  // Adds /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo. `this` must outlive the
  // table's use.
  void Register(rpc::MethodTable& table) const;

 private:
  // The response to one request. CPU-only: descriptors come from memory.
  grpc::reflection::v1alpha::ServerReflectionResponse Answer(
      const grpc::reflection::v1alpha::ServerReflectionRequest& request) const;
  absl::Status Info(const grpc::ByteBuffer& request,
                    const std::shared_ptr<rpc::Stream>& stream) const;

  const std::vector<std::string> services_;
};

}  // namespace nodegate::services
