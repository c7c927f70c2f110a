// Protobuf messages of a type known only at run time, to and from proto3 JSON (protobuf's
// canonical JSON mapping: lowerCamelCase names, enums by name, 64-bit integers and bytes as
// strings, well-known types in their special forms).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace nodegate::client {

// Cuts `text` into its top-level JSON values — `{…}{…}`, `{…}\n{…}`, `[…] "s" 1`: the
// concatenated form a client-streaming request is given in (as grpcurl and jq read it). Only the
// boundaries are found here (strings and escapes respected, nesting counted); each value is
// checked when it is parsed into a message. Blank input is no values. INVALID_ARGUMENT with the
// byte offset for an unclosed string, object or array, or a stray closing bracket.
absl::StatusOr<std::vector<std::string>> SplitJsonValues(std::string_view text);

// Each JSON value of `text` (SplitJsonValues) as a new message of `type`, made by `factory`
// (which must outlive the messages). INVALID_ARGUMENT naming the value's position (1-based) and
// the type: "request 2 (api.RollDieRequest): …" when one does not fit, e.g. an unknown field.
absl::StatusOr<std::vector<std::unique_ptr<google::protobuf::Message>>> ParseJsonMessages(
    const google::protobuf::Descriptor& type, std::string_view text,
    google::protobuf::MessageFactory& factory);

struct JsonOutput {
  bool multiline = false;      // pretty-printed; the default is one message per line
  bool emit_defaults = false;  // also print fields that hold their default (0, "", false, [])
};

// `message` as proto3 JSON.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   const JsonOutput& output = {});

}  // namespace nodegate::client
