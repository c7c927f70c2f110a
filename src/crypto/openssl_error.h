// Turns OpenSSL's thread-local error queue into an absl::Status message at the point of failure.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace nodegate::crypto {

// Drains the calling thread's OpenSSL error queue and returns its entries joined by "; "
// (empty when the queue was empty).
std::string DrainOpenSslErrors();

// `what` + ": " + the drained OpenSSL errors, as a status with `code`.
absl::Status OpenSslError(std::string_view what,
                          absl::StatusCode code = absl::StatusCode::kInternal);

}  // namespace nodegate::crypto
