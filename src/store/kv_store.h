// A durable key-value map: byte-string keys to byte-string values with a content-type tag.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nodegate::store {

// Every limit must be positive (else the store refuses to open with INVALID_ARGUMENT).
// A key or value over its size limit is INVALID_ARGUMENT; a Set that would push the totals over
// max_total_bytes (sum of key + value bytes of all entries) or max_keys is RESOURCE_EXHAUSTED.
struct KvLimits {
  int64_t max_key_bytes = 1024;
  int64_t max_value_bytes = int64_t{1} << 20;
  int64_t max_total_bytes = int64_t{256} << 20;
  int64_t max_keys = 1'000'000;
};

// content_type is at most 256 bytes; empty = not given.
inline constexpr int64_t kMaxContentTypeBytes = 256;

struct KvEntry {
  std::string value;  // may be empty
  std::string content_type;
  absl::Time updated_at;
};

struct KvKeyPage {
  std::vector<std::string> keys;  // byte-wise ascending
  std::string next_page_token;    // empty: no more pages
};

// Thread-safe. Keys are 1..max_key_bytes bytes (an empty key is INVALID_ARGUMENT); Set takes only
// valid UTF-8 keys (they travel in proto3 `string` fields), Get/Delete take any bytes.
// A Set or Delete that returned OK is on disk (it survives a crash of the process or the host).
class KvStore {
 public:
  virtual ~KvStore() = default;

  virtual absl::StatusOr<KvEntry> Get(std::string_view key) = 0;  // NOT_FOUND if absent
  // Creates or replaces the entry.
  virtual absl::Status Set(std::string_view key, std::string_view value,
                           std::string_view content_type) = 0;
  virtual absl::Status Delete(std::string_view key) = 0;  // NOT_FOUND if absent
  virtual absl::StatusOr<bool> Exists(std::string_view key) = 0;
  // Keys starting with `prefix` (empty prefix = all keys). See store/paging.h for paging.
  virtual absl::StatusOr<KvKeyPage> Keys(std::string_view prefix, int page_size,
                                         std::string_view page_token) = 0;
};

}  // namespace nodegate::store
