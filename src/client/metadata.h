// Request metadata given on the command line as `key: value` (curl's and grpcurl's -H).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace nodegate::client {

using Metadata = std::vector<std::pair<std::string, std::string>>;

// "Key: value" → {"key", "value"}: the key lower-cased (gRPC sends keys in lower case), the value
// trimmed of surrounding blanks. A key ending in "-bin" takes its value in base64 (standard or
// URL alphabet, padding optional) and carries the decoded bytes, as gRPC's binary headers do.
// INVALID_ARGUMENT, naming the header, for: no colon, an empty key, a key outside
// [0-9a-z-_.], a reserved key (":…", "grpc-…"), a text value outside printable ASCII, bad base64.
absl::StatusOr<std::pair<std::string, std::string>> ParseHeader(std::string_view header);

// Every header of `headers`, in order; the first bad one fails the whole list.
absl::StatusOr<Metadata> ParseHeaders(const std::vector<std::string>& headers);

}  // namespace nodegate::client
