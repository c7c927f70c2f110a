// The node a shared PostgreSQL database belongs to. Replicas of one node share node.id and
// store.url; a replica started with another node.id on the same database would serve that node's
// credentials, KV and leases under a different audience and split the fleet without anyone
// noticing. So the first process that opens the database for a node records the node's id, and
// every later one must bring the same id.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "store/postgres/pg_connection.h"

namespace nodegate::store {

// Records `node_id` as the database's node if it records none yet (atomically: of several
// processes claiming a fresh database at once, exactly one id wins and the others compare against
// it). OK if the database belongs to `node_id`; FAILED_PRECONDITION naming both ids, the database
// (host:port/dbname, and the schema unless it is "public"; never a password) and the fix if it
// belongs to another node. Runs outside a transaction block.
absl::Status ClaimPgDatabase(PgConnection& connection, std::string_view node_id, absl::Time now);

}  // namespace nodegate::store
