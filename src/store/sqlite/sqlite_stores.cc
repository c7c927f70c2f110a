#include "store/sqlite/sqlite_stores.h"

#include "store/sqlite/sqlite_credential_store.h"
#include "store/sqlite/sqlite_kv_store.h"
#include "store/sqlite/sqlite_lease_store.h"
#include "store/sqlite/sqlite_node_store.h"
#include "store/sqlite/sqlite_nonce_store.h"

namespace nodegate::store {

absl::StatusOr<Stores> OpenSqliteStores(const std::string& path, KvLimits kv_limits) {
  absl::StatusOr<std::shared_ptr<Database>> database = Database::Open(path);
  if (!database.ok()) return database.status();
  Stores stores;
  absl::StatusOr<std::unique_ptr<NodeStore>> nodes = OpenSqliteNodeStore(*database);
  if (!nodes.ok()) return nodes.status();
  stores.nodes = *std::move(nodes);
  absl::StatusOr<std::unique_ptr<CredentialStore>> credentials =
      OpenSqliteCredentialStore(*database);
  if (!credentials.ok()) return credentials.status();
  stores.credentials = *std::move(credentials);
  absl::StatusOr<std::unique_ptr<KvStore>> kv = OpenSqliteKvStore(*database, kv_limits);
  if (!kv.ok()) return kv.status();
  stores.kv = *std::move(kv);
  absl::StatusOr<std::unique_ptr<LeaseStore>> leases = OpenSqliteLeaseStore(*database);
  if (!leases.ok()) return leases.status();
  stores.leases = *std::move(leases);
  absl::StatusOr<std::unique_ptr<NonceStore>> nonces = OpenSqliteNonceStore(*database);
  if (!nonces.ok()) return nonces.status();
  stores.nonces = *std::move(nonces);
  return stores;
}

}  // namespace nodegate::store
