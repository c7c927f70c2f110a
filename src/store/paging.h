// Paging conventions shared by every listing in the store.
#pragma once

namespace nodegate::store {

// A page_size of 0 asks for kDefaultPageSize entries; a larger page_size than kMaxPageSize is
// clamped to it; a negative page_size is INVALID_ARGUMENT. An empty page_token starts at the
// beginning; page tokens are opaque and only valid for the listing (and prefix) that returned
// them. An empty next_page_token means the listing is complete.
inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

}  // namespace nodegate::store
