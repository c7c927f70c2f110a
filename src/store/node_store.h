// The node registry: which nodes exist, the signing key each one registered, and its roles.
// Callers validate keys and algorithms (crypto/); the store only keeps them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nodegate::store {

struct NodeRecord {
  // [A-Za-z0-9._-]{1,128} (design §3); anything else is INVALID_ARGUMENT.
  std::string id;
  // The algorithm of public_key_pem (e.g. "ed25519"); never empty.
  std::string algorithm;
  // Never empty.
  std::string public_key_pem;
  // The key replaced by the last RotateKey and its algorithm; empty when the node never rotated.
  // previous_key_valid_until is absl::InfinitePast() when there is no previous key; the previous
  // key is only to be accepted while now < previous_key_valid_until.
  std::string previous_algorithm;
  std::string previous_public_key_pem;
  absl::Time previous_key_valid_until = absl::InfinitePast();
  // Each role is 1..64 bytes of printable ASCII without ',' or space. Empty = no roles.
  std::vector<std::string> roles;
  bool enabled = true;
  // Serial (hex) of the last certificate issued to the node; empty when none was issued.
  std::string cert_serial;
  // Set by the store; ignored on input.
  absl::Time created_at = absl::InfinitePast();
  absl::Time updated_at = absl::InfinitePast();
};

struct NodePage {
  std::vector<NodeRecord> records;  // ordered by id
  std::string next_page_token;      // empty: no more pages
};

// Persistent node registry. Thread-safe. Errors: NOT_FOUND for an unknown id, ALREADY_EXISTS for
// a duplicate id, INVALID_ARGUMENT for malformed input.
class NodeStore {
 public:
  virtual ~NodeStore() = default;

  // Stores a new node; returns it with created_at/updated_at set.
  virtual absl::StatusOr<NodeRecord> Create(const NodeRecord& record) = 0;
  virtual absl::StatusOr<NodeRecord> Get(std::string_view id) = 0;
  // See store/paging.h for page_size and page_token.
  virtual absl::StatusOr<NodePage> List(int page_size, std::string_view page_token) = 0;
  // Replaces every field of the node record.id except created_at (last writer wins).
  virtual absl::StatusOr<NodeRecord> Update(const NodeRecord& record) = 0;
  virtual absl::Status SetEnabled(std::string_view id, bool enabled) = 0;
  // Replaces the node's roles and nothing else (a key rotated meanwhile stays rotated, unlike a
  // Get + Update). Returns the record as stored.
  virtual absl::StatusOr<NodeRecord> SetRoles(std::string_view id,
                                              const std::vector<std::string>& roles) = 0;
  virtual absl::Status Remove(std::string_view id) = 0;
  // Makes (new_algorithm, new_public_key_pem) the current key and keeps the current one as the
  // previous key until grace_until (absl::InfinitePast() drops it at once). An earlier previous
  // key is forgotten.
  virtual absl::StatusOr<NodeRecord> RotateKey(std::string_view id, std::string_view new_algorithm,
                                               std::string_view new_public_key_pem,
                                               absl::Time grace_until) = 0;

  // Grows whenever any node is written, by this process or another one using the same database,
  // and never decreases, so that a cache can tell it is stale and a writer can tell when a
  // cache has caught up with its write. Cheap: never waits for a writer. An error (UNAVAILABLE when
  // the database cannot be reached) means the store could not be read: nothing is known about
  // changes since the last value.
  virtual absl::StatusOr<uint64_t> Generation() = 0;
};

}  // namespace nodegate::store
