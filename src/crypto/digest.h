// One-shot message digests.
#pragma once

#include <string>
#include <string_view>

namespace nodegate::crypto {

// These cannot fail on valid input; OpenSSL only fails here when it cannot allocate, and then the
// process aborts with a message (a digest of the wrong value would be worse than no process).

// SHA-256 of `data`: 32 raw bytes.
std::string Sha256(std::string_view data);

// SHA-256 of `data`: 64 lowercase hex characters.
std::string Sha256Hex(std::string_view data);

// SM3 (GB/T 32905) of `data`: 32 raw bytes.
std::string Sm3(std::string_view data);

}  // namespace nodegate::crypto
