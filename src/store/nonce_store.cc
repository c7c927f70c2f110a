#include "store/nonce_store.h"

namespace nodegate::store {

absl::Status NonceStore::Record(const NonceRecord& record, absl::Time now) {
  absl::StatusOr<std::vector<bool>> fresh = RecordBatch({record}, now);
  if (!fresh.ok()) return fresh.status();
  if (!fresh->front()) return absl::AlreadyExistsError("store: nonce already recorded");
  return absl::OkStatus();
}

}  // namespace nodegate::store
