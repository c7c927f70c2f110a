#include "store/postgres/postgres_stores.h"

namespace nodegate::store {

absl::StatusOr<Stores> OpenPostgresStores(std::string_view url, KvLimits kv_limits,
                                          const PgDatabase::Options& options) {
  absl::StatusOr<std::shared_ptr<PgDatabase>> database = PgDatabase::Open(url, options);
  if (!database.ok()) return database.status();
  Stores stores;
  absl::StatusOr<std::unique_ptr<NodeStore>> nodes = OpenPostgresNodeStore(*database);
  if (!nodes.ok()) return nodes.status();
  stores.nodes = *std::move(nodes);
  absl::StatusOr<std::unique_ptr<CredentialStore>> credentials =
      OpenPostgresCredentialStore(*database);
  if (!credentials.ok()) return credentials.status();
  stores.credentials = *std::move(credentials);
  absl::StatusOr<std::unique_ptr<KvStore>> kv = OpenPostgresKvStore(*database, kv_limits);
  if (!kv.ok()) return kv.status();
  stores.kv = *std::move(kv);
  absl::StatusOr<std::unique_ptr<LeaseStore>> leases = OpenPostgresLeaseStore(*database);
  if (!leases.ok()) return leases.status();
  stores.leases = *std::move(leases);
  absl::StatusOr<std::unique_ptr<NonceStore>> nonces = OpenPostgresNonceStore(*database);
  if (!nonces.ok()) return nonces.status();
  stores.nonces = *std::move(nonces);
  return stores;
}

}  // namespace nodegate::store
