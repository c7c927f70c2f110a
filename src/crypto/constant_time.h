// Comparison of secrets (token hashes, app secrets, MACs) without a timing side channel.
#pragma once

#include <string_view>

namespace nodegate::crypto {

// True when `a` and `b` hold the same bytes. The time taken depends only on the lengths, never on
// where the contents differ (OpenSSL's CRYPTO_memcmp). Lengths are not secret: a length mismatch
// returns false at once, without comparing any content. Compare fixed-size values (digests) when
// the length itself must not leak.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace nodegate::crypto
