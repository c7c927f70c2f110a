// Every store of a node, on whichever backend store/store_factory.h opened.
#pragma once

#include <memory>

#include "store/credential_store.h"
#include "store/kv_store.h"
#include "store/lease_store.h"
#include "store/node_store.h"
#include "store/nonce_store.h"

namespace nodegate::store {

// Each store keeps its database open for as long as it lives.
struct Stores {
  std::unique_ptr<NodeStore> nodes;
  std::unique_ptr<CredentialStore> credentials;
  std::unique_ptr<KvStore> kv;
  std::unique_ptr<LeaseStore> leases;
  std::unique_ptr<NonceStore> nonces;
};

}  // namespace nodegate::store
