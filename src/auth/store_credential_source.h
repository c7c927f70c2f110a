// CredentialSource over the node and credential stores: builds a snapshot with every node's
// verifier parsed once, so the per-call path never parses a key.
#pragma once

#include <memory>

#include "auth/credential_cache.h"
#include "store/credential_store.h"
#include "store/node_store.h"

namespace nodegate::auth {

// The generation a StoreCredentialSource over these stores reports: grows with every write to
// either (what a node's snapshot is loaded at, and what `nodegate node add` & co. wait for).
absl::StatusOr<uint64_t> CredentialGeneration(store::NodeStore& node_store,
                                              store::CredentialStore& credential_store);

class StoreCredentialSource : public CredentialSource {
 public:
  StoreCredentialSource(std::shared_ptr<store::NodeStore> nodes,
                        std::shared_ptr<store::CredentialStore> credentials)
      : nodes_(std::move(nodes)), credentials_(std::move(credentials)) {}

  absl::StatusOr<uint64_t> Generation() override;
  absl::StatusOr<CredentialSnapshot> Load() override;

 private:
  std::shared_ptr<store::NodeStore> nodes_;
  std::shared_ptr<store::CredentialStore> credentials_;
};

}  // namespace nodegate::auth
