// How values are laid out in the columns of both backends (internal to nodegate_store).
//   times: INTEGER (SQLite) / BIGINT (PostgreSQL) Unix microseconds; INT64_MIN = InfinitePast,
//          INT64_MAX = InfiniteFuture.
//   roles: TEXT, the roles joined by ',' ("" = no roles); roles never contain ',' (validation.h).
//   page tokens: base64url of the last key of the previous page.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nodegate::store {

int64_t EncodeTime(absl::Time t);
absl::Time DecodeTime(int64_t micros);
// absl::Now() truncated to what a stored time keeps (microseconds), so that a record returned by a
// write equals the one read back.
absl::Time StoredNow();

std::string EncodeRoles(const std::vector<std::string>& roles);
std::vector<std::string> DecodeRoles(std::string_view text);

// The smallest string greater than every string starting with `prefix` (the exclusive upper
// bound of a prefix scan); empty if there is none (prefix empty or all 0xff).
std::string PrefixSuccessor(std::string_view prefix);

std::string EncodePageToken(std::string_view last_key);
// INVALID_ARGUMENT if the token is not one we made.
absl::StatusOr<std::string> DecodePageToken(std::string_view token);
// Applies the rules of store/paging.h.
absl::StatusOr<int> EffectivePageSize(int page_size);

}  // namespace nodegate::store
