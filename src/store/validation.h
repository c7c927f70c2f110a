// Input checks shared by the store implementations (internal to nodegate_store). Messages name
// the field and the rule, never echo a secret or hash.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "store/credential_store.h"
#include "store/kv_store.h"
#include "store/node_store.h"
#include "store/nonce_store.h"

namespace nodegate::store {

// [A-Za-z0-9._-]{1,128}: node ids and app keys (design §3).
absl::Status ValidateId(std::string_view field, std::string_view value);
// Lower-case hex SHA-256 (64 characters).
absl::Status ValidateSha256Hex(std::string_view field, std::string_view value);
// 1..256 bytes without control characters.
absl::Status ValidatePrincipal(std::string_view field, std::string_view value);
// Each role 1..64 bytes of printable ASCII other than ',' and space.
absl::Status ValidateRoles(std::string_view field, const std::vector<std::string>& roles);

// The argument checks of each store method, shared by both backends so that SQLite and
// PostgreSQL refuse the same input with the same message (store/*_store.h state the rules).
absl::Status ValidateAccessToken(const AccessToken& token);
absl::Status ValidateAppKey(const AppKey& key);
absl::Status ValidateJoinToken(const JoinToken& token);
// `field` names the key in messages ("node", "node new", ...).
absl::Status ValidateNodeKey(std::string_view field, std::string_view algorithm,
                             std::string_view public_key_pem);
absl::Status ValidateNodeRecord(const NodeRecord& record);
absl::Status ValidateKvLimits(const KvLimits& limits);
absl::Status ValidateKvKey(std::string_view key, const KvLimits& limits);
// Everything KvStore::Set checks before it touches the database.
absl::Status ValidateKvSet(std::string_view key, std::string_view value,
                           std::string_view content_type, const KvLimits& limits);
absl::Status ValidateJobCode(std::string_view job_code);
absl::Status ValidateLeaseOwner(std::string_view owner);
// LeaseStore::Acquire's range, ttl, clock and callback.
absl::Status ValidateLeaseRequest(int port_lo, int port_hi, absl::Duration ttl, absl::Time now,
                                  bool has_is_bindable);

// NonceStore::RecordBatch: at most kMaxNonceBatch records, each with a node_id and a nonce.
absl::Status ValidateNonceRecords(const std::vector<NonceRecord>& records);
// For each record, whether it is the first in `records` with its (node_id, nonce): only those
// are written; a later one is a replay of the first within the batch.
std::vector<bool> FirstOccurrences(const std::vector<NonceRecord>& records);

}  // namespace nodegate::store
