// Test constants in the forms they are published in: hex, and PEM armour around DER.
#pragma once

#include <string>
#include <string_view>

namespace nodegate::testlib {

// Hex to bytes; a malformed constant is a bug in the test (and fails it).
std::string Unhex(std::string_view hex);

// PEM armour around DER, with the 64-column lines OpenSSL writes.
std::string Pem(std::string_view label, std::string_view der);

// The DER inside a single-block PEM (what a fingerprint hashes).
std::string PemBody(std::string_view pem);

}  // namespace nodegate::testlib
