// The stores of a node on a PostgreSQL database shared by every replica of the node.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "store/credential_store.h"
#include "store/kv_store.h"
#include "store/lease_store.h"
#include "store/node_store.h"
#include "store/nonce_store.h"
#include "store/postgres/pg_database.h"
#include "store/stores.h"

namespace nodegate::store {

// Each is INVALID_ARGUMENT if database is null.
absl::StatusOr<std::unique_ptr<NodeStore>> OpenPostgresNodeStore(
    std::shared_ptr<PgDatabase> database);
absl::StatusOr<std::unique_ptr<CredentialStore>> OpenPostgresCredentialStore(
    std::shared_ptr<PgDatabase> database);
// INVALID_ARGUMENT also for a non-positive limit.
absl::StatusOr<std::unique_ptr<KvStore>> OpenPostgresKvStore(std::shared_ptr<PgDatabase> database,
                                                             KvLimits limits);
absl::StatusOr<std::unique_ptr<LeaseStore>> OpenPostgresLeaseStore(
    std::shared_ptr<PgDatabase> database);
absl::StatusOr<std::unique_ptr<NonceStore>> OpenPostgresNonceStore(
    std::shared_ptr<PgDatabase> database);

// Connects to `url` (a libpq connection string without a password), migrates, claims the
// database for options.node_id if set (PgDatabase::Open), and opens every store on one pool.
absl::StatusOr<Stores> OpenPostgresStores(
    std::string_view url, KvLimits kv_limits = KvLimits(),
    const PgDatabase::Options& options = PgDatabase::Options());

}  // namespace nodegate::store
