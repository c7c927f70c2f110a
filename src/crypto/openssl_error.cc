#include "crypto/openssl_error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace nodegate::crypto {

std::string DrainOpenSslErrors() {
  std::string out;
  unsigned long err = 0;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

absl::Status OpenSslError(std::string_view what, absl::StatusCode code) {
  std::string detail = DrainOpenSslErrors();
  if (detail.empty()) return absl::Status(code, std::string(what));
  return absl::Status(code, absl::StrCat(std::string(what), ": ", detail));
}

}  // namespace nodegate::crypto
