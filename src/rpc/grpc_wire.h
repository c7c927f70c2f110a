// gRPC's protocol over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md), the parts the h2 engine writes itself
// above nghttp2: length-prefixed messages, the grpc-timeout header, the percent-encoded
// grpc-message, and "-bin" metadata. Pure functions of bytes: every one is fed untrusted input
// (tests/fuzz/grpc_wire_fuzz.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace nodegate::rpc {

// The 5-byte prefix of every message: a compressed flag, then the length (big-endian).
inline constexpr size_t kMessagePrefixBytes = 5;

// Splits a request body into messages as its DATA frames arrive, holding at most one message
// (and never more than `max_message_bytes` of it) at a time.
class MessageReader {
 public:
  explicit MessageReader(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Consumes `bytes`, moving each complete message into `on_message(std::string&&)`. The first
  // error ends the reader (every later call returns it): RESOURCE_EXHAUSTED for a message over
  // the limit (said before its body is read), INTERNAL for a compressed message (the engine
  // accepts identity only, so a compressed flag is a protocol error, as in gRPC).
  template <typename OnMessage>
  absl::Status Feed(std::string_view bytes, OnMessage&& on_message) {
    while (error_.ok() && !bytes.empty()) {
      if (absl::Status s = Step(&bytes); !s.ok()) return error_ = s;
      if (complete_) {
        complete_ = false;
        std::string message = std::move(message_);
        message_.clear();
        on_message(std::move(message));
      }
    }
    return error_;
  }

  // True between messages (nothing of a next message has arrived): where a stream may end.
  bool at_boundary() const { return error_.ok() && prefix_have_ == 0 && !in_body_; }
  // Bytes held for the message being read: what this stream costs its connection right now.
  size_t buffered() const { return message_.size(); }

 private:
  absl::Status Step(std::string_view* bytes);

  const size_t max_message_bytes_;
  absl::Status error_;
  unsigned char prefix_[kMessagePrefixBytes] = {};
  size_t prefix_have_ = 0;
  bool in_body_ = false;
  size_t body_length_ = 0;
  std::string message_;
  bool complete_ = false;
};

// Appends `message` with its 5-byte prefix (uncompressed) to `out`.
void AppendFramedMessage(std::string_view message, std::string* out);

// The grpc-timeout header: 1–8 ASCII digits and a unit (H M S m u n). nullopt when malformed.
std::optional<absl::Duration> ParseGrpcTimeout(std::string_view value);

// grpc-message: bytes outside printable ASCII, and '%', as %XX (upper-case hex).
std::string PercentEncode(std::string_view text);
// The inverse; a malformed escape is kept as it is (the spec's advice to decoders).
std::string PercentDecode(std::string_view text);

// "-bin" metadata: base64 (standard alphabet) without padding on the wire; decoding accepts
// padded and unpadded values. nullopt when `value` is not base64.
std::string EncodeBinaryHeader(std::string_view raw);
std::optional<std::string> DecodeBinaryHeader(std::string_view value);

// "…-bin" keys carry binary values.
inline bool IsBinaryHeader(std::string_view key) {
  return key.size() >= 4 && key.substr(key.size() - 4) == "-bin";
}

}  // namespace nodegate::rpc
