// UTF-8 well-formedness (RFC 3629): what proto3 `string` fields and JSON text require. Overlong
// forms, surrogates (U+D800..U+DFFF) and code points above U+10FFFF are not well formed.
#pragma once

#include <string_view>

namespace nodegate::base {

bool IsValidUtf8(std::string_view text);

}  // namespace nodegate::base
