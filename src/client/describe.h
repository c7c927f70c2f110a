// What `nodegate list` and `nodegate describe` print, in grpcurl's shape: names one per line, and
// "<name> is a <kind>:" followed by the definition in .proto syntax (as protobuf prints it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "client/descriptor_source.h"

namespace nodegate::client {

// The methods of `service`, as "pkg.Service.Method", in declaration order.
absl::StatusOr<std::vector<std::string>> ListMethods(DescriptorSource& source,
                                                     std::string_view service);

// "<symbol> is a service:\n<definition>" for a service, message, enum, method, field, enum value
// or extension (a leading dot allowed). NOT_FOUND naming the symbol and the source.
absl::StatusOr<std::string> Describe(DescriptorSource& source, std::string_view symbol);

}  // namespace nodegate::client
