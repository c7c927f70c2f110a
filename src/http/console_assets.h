// The web console's files (src/http/assets/*), compiled into the binary by a CMake step
// (embed_assets.cmake), so that a node needs no files beside its config to show its console.
#pragma once

#include <string_view>

namespace nodegate::http {

struct ConsoleAsset {
  std::string_view path;          // "/index.html", "/console.js", …
  std::string_view content_type;  // from the file extension
  std::string_view body;
};

// The asset served at `path` ("/" is "/index.html"); null when there is none.
const ConsoleAsset* FindConsoleAsset(std::string_view path);

}  // namespace nodegate::http
