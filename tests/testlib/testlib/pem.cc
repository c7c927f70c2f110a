#include "testlib/pem.h"

#include <gtest/gtest.h>

#include <sstream>

#include "crypto/encoding.h"

namespace nodegate::testlib {

std::string Unhex(std::string_view hex) {
  auto bytes = crypto::HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

std::string Pem(std::string_view label, std::string_view der) {
  const std::string body = crypto::Base64Encode(der);
  std::string pem = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < body.size(); i += 64) pem += body.substr(i, 64) + "\n";
  pem += "-----END " + std::string(label) + "-----\n";
  return pem;
}

std::string PemBody(std::string_view pem) {
  std::string b64;
  std::istringstream in{std::string(pem)};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("-----", 0) != 0) b64 += line;
  }
  auto der = crypto::Base64Decode(b64);
  EXPECT_TRUE(der.ok()) << der.status();
  return der.ok() ? *der : std::string();
}

}  // namespace nodegate::testlib
