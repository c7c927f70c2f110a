// After an admin tool writes the store (`nodegate node add`, `token create`, …), wait until the
// running node of that config has loaded the change into its credential snapshot, so that the
// change is in force when the tool returns. The node says which store generation its snapshot
// was loaded at (/readyz `credential_generation`); store generations only grow, so a node at or
// past the generation read after the write has the write (auth/store_credential_source.cc).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/config.h"
#include "store/stores.h"

namespace nodegate::server {

struct StoreChangeWait {
  enum class Outcome {
    kApplied,     // the node reported a generation at or past the store's
    kNotRunning,  // nothing listens on http.listen: the node reads the store when it starts
    kNoListener,  // no [http] listener to ask (or port 0: unknown); nothing can be confirmed
  };
  Outcome outcome = Outcome::kApplied;
  std::string node_url;     // https://host:port/readyz asked (empty for kNoListener)
  uint64_t generation = 0;  // the store's, after the write
  absl::Duration waited;
};

// Reads the stores' generation, then asks the node of `config` every `interval` until its
// snapshot reaches it or `timeout` passes. Errors: DEADLINE_EXCEEDED (the node answered but had
// not loaded the change; the message gives both generations and the node's readiness reason),
// FAILED_PRECONDITION (the node's certificate does not verify against tls.ca, or /readyz carries
// no generation: an older node), UNAVAILABLE (the store's generation cannot be read).
absl::StatusOr<StoreChangeWait> WaitForStoreChange(
    const NodeConfig& config, const store::Stores& stores, absl::Duration timeout,
    absl::Duration interval = absl::Milliseconds(50));

}  // namespace nodegate::server
