// A blocking HTTPS client for listener tests (Boost.Beast): one TLS connection to 127.0.0.1.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace nodegate::testlib {

struct ClientResponse {
  int status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;  // names lower-case
};

struct ClientIdentity {
  std::string cert_pem;
  std::string key_pem;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// One TLS connection to 127.0.0.1:`port`, the server verified against `ca_pem`; every socket
// operation gives up after 5 s.
class TestClient {
 public:
  TestClient(int port, const std::string& ca_pem, std::optional<ClientIdentity> id = std::nullopt);

  absl::Status Connect();
  // Sends `raw` as is (for requests a well-behaved client would not send).
  absl::Status SendRaw(const std::string& raw);
  absl::StatusOr<ClientResponse> Request(const std::string& method, const std::string& target,
                                         const Headers& headers = {}, std::string body = "");
  absl::StatusOr<ClientResponse> ReadResponse();
  // True when the server closed the connection (EOF or reset) rather than the read timing out.
  bool ReadsEof();

 private:
  int port_;
  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  std::optional<boost::beast::ssl_stream<boost::asio::ip::tcp::socket>> stream_;
  boost::beast::flat_buffer buffer_;
};

// One request on a new connection.
absl::StatusOr<ClientResponse> Fetch(int port, const std::string& ca_pem, const std::string& method,
                                     const std::string& target, const Headers& headers = {},
                                     std::optional<ClientIdentity> id = std::nullopt,
                                     std::string body = "");

}  // namespace nodegate::testlib
