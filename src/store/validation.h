// Input checks shared by the store implementations (internal to nodegate_store). Messages name
// the field and the rule, never echo a secret or hash.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace nodegate::store {

// [A-Za-z0-9._-]{1,128}: node ids and app keys (design §3).
absl::Status ValidateId(std::string_view field, std::string_view value);
// Lower-case hex SHA-256 (64 characters).
absl::Status ValidateSha256Hex(std::string_view field, std::string_view value);
// 1..256 bytes without control characters.
absl::Status ValidatePrincipal(std::string_view field, std::string_view value);
// Each role 1..64 bytes of printable ASCII other than ',' and space.
absl::Status ValidateRoles(std::string_view field, const std::vector<std::string>& roles);

}  // namespace nodegate::store
