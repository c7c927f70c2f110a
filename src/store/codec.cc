#include "store/codec.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "store/absl_view.h"
#include "store/paging.h"

namespace nodegate::store {

int64_t EncodeTime(absl::Time t) {
  if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
  if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  return absl::ToUnixMicros(t);
}

absl::Time DecodeTime(int64_t micros) {
  if (micros == std::numeric_limits<int64_t>::min()) return absl::InfinitePast();
  if (micros == std::numeric_limits<int64_t>::max()) return absl::InfiniteFuture();
  return absl::FromUnixMicros(micros);
}

absl::Time StoredNow() { return absl::FromUnixMicros(absl::ToUnixMicros(absl::Now())); }

std::string EncodeRoles(const std::vector<std::string>& roles) { return absl::StrJoin(roles, ","); }

std::vector<std::string> DecodeRoles(std::string_view text) {
  return absl::StrSplit(AbslView(text), ',', absl::SkipEmpty());
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string limit(prefix);
  while (!limit.empty()) {
    if (static_cast<unsigned char>(limit.back()) != 0xff) {
      limit.back() = static_cast<char>(static_cast<unsigned char>(limit.back()) + 1);
      return limit;
    }
    limit.pop_back();
  }
  return limit;
}

std::string EncodePageToken(std::string_view last_key) {
  return absl::WebSafeBase64Escape(AbslView(last_key));
}

absl::StatusOr<std::string> DecodePageToken(std::string_view token) {
  std::string out;
  if (!absl::WebSafeBase64Unescape(AbslView(token), &out) || out.empty() ||
      absl::WebSafeBase64Escape(out) != token) {
    return absl::InvalidArgumentError("store: page_token: not a token returned by this listing");
  }
  return out;
}

absl::StatusOr<int> EffectivePageSize(int page_size) {
  if (page_size < 0) {
    return absl::InvalidArgumentError("store: page_size: must not be negative");
  }
  if (page_size == 0) return kDefaultPageSize;
  return page_size > kMaxPageSize ? kMaxPageSize : page_size;
}

}  // namespace nodegate::store
