// Where the message types of a call come from: the node's reflection service
// (ReflectionSource) or .proto files on disk (ProtoFileSource). Both hand out descriptors from a
// pool of their own, never protobuf's generated pool: what a node serves need not be compiled
// into this binary.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"

namespace nodegate::client {

class DescriptorSource {
 public:
  virtual ~DescriptorSource() = default;

  // Full names of the services, sorted: those the node lists, or those the .proto files define.
  virtual absl::StatusOr<std::vector<std::string>> ListServices() = 0;

  // The pool symbols are looked up in. A reflection source fills it as names are asked for, so a
  // lookup that finds nothing may have failed on the way: see LookupStatus().
  virtual const google::protobuf::DescriptorPool& pool() const = 0;

  // OK, or why a lookup could not be answered (the reflection call failed: an RPC error, see
  // rpc_error.h). A name that is simply not defined leaves it OK.
  virtual absl::Status LookupStatus() const = 0;

  // Where names are looked up, for messages: "the node's reflection service", "--proto a.proto".
  virtual std::string Where() const = 0;
};

// The method `name` names: "/pkg.Service/Method" (the wire path), "pkg.Service/Method" or
// "pkg.Service.Method". NOT_FOUND naming the service or method and where it was looked up; the
// reflection call's own failure as that RPC error.
absl::StatusOr<const google::protobuf::MethodDescriptor*> FindMethod(DescriptorSource& source,
                                                                     std::string_view name);

// The service `name` ("pkg.Service", a leading dot allowed); errors as FindMethod's.
absl::StatusOr<const google::protobuf::ServiceDescriptor*> FindService(DescriptorSource& source,
                                                                       std::string_view name);

// "/pkg.Service/Method": the path a call of `method` goes to.
std::string MethodPath(const google::protobuf::MethodDescriptor& method);

}  // namespace nodegate::client
