// Plain loopback TCP sockets for tests: peers that misbehave on purpose, and byte round trips.
#pragma once

#include <string>

namespace nodegate::testlib {

// A blocking TCP connection to 127.0.0.1:`port` (-1 on failure); reads give up after
// `timeout_s`.
int RawConnect(int port, int timeout_s = 5);

// The same for the port of a "host:port" address, reads giving up after 10 s.
int ConnectTo(const std::string& address);

// True when the peer closed `fd` (read returns 0 or a reset) before the read timeout.
bool RawReadsEof(int fd);

// Sends `payload` to `address`, half-closes, and returns everything read until EOF (or error or
// timeout); "<connect failed>" if there was no connection.
std::string RoundTrip(const std::string& address, const std::string& payload);

}  // namespace nodegate::testlib
