// A blocking HTTPS client for the listener tests (Boost.Beast), and raw loopback sockets for the
// peers that misbehave on purpose.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace nodegate::http::testing {

struct ClientResponse {
  int status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;  // names lower-case
};

struct ClientIdentity {
  std::string cert_pem;
  std::string key_pem;
};

// One TLS connection to 127.0.0.1:`port`, the server verified against `ca_pem`; every socket
// operation gives up after 5 s.
class TestClient {
 public:
  TestClient(int port, const std::string& ca_pem, std::optional<ClientIdentity> id = std::nullopt)
      : port_(port), ctx_(boost::asio::ssl::context::tls_client) {
    ctx_.add_certificate_authority(boost::asio::buffer(ca_pem));
    ctx_.set_verify_mode(boost::asio::ssl::verify_peer);
    if (id) {
      ctx_.use_certificate_chain(boost::asio::buffer(id->cert_pem));
      ctx_.use_private_key(boost::asio::buffer(id->key_pem), boost::asio::ssl::context::pem);
    }
  }

  absl::Status Connect() {
    // The SSL object copies the context's certificate when it is created: after the constructor.
    stream_.emplace(io_, ctx_);
    boost::system::error_code ec;
    auto& sock = stream_->next_layer();
    sock.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)}, ec);
    if (ec) return absl::UnavailableError("connect: " + ec.message());
    timeval tv{5, 0};
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    stream_->handshake(boost::asio::ssl::stream_base::client, ec);
    if (ec) return absl::UnavailableError("handshake: " + ec.message());
    return absl::OkStatus();
  }

  // Sends `raw` as is (for requests a well-behaved client would not send).
  absl::Status SendRaw(const std::string& raw) {
    boost::system::error_code ec;
    boost::asio::write(*stream_, boost::asio::buffer(raw), ec);
    if (ec) return absl::UnavailableError("write: " + ec.message());
    return absl::OkStatus();
  }

  absl::StatusOr<ClientResponse> Request(
      const std::string& method, const std::string& target,
      const std::vector<std::pair<std::string, std::string>>& headers = {}, std::string body = "") {
    namespace bhttp = boost::beast::http;
    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    boost::system::error_code ec;
    bhttp::write(*stream_, req, ec);
    if (ec) return absl::UnavailableError("write: " + ec.message());
    return ReadResponse();
  }

  absl::StatusOr<ClientResponse> ReadResponse() {
    namespace bhttp = boost::beast::http;
    bhttp::response<bhttp::string_body> res;
    boost::system::error_code ec;
    bhttp::read(*stream_, buffer_, res, ec);
    if (ec) return absl::UnavailableError("read: " + ec.message());
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& f : res) {
      out.headers.emplace(absl::AsciiStrToLower(std::string(f.name_string())),
                          std::string(f.value()));
    }
    return out;
  }

  // True when the server closed the connection (EOF or reset) rather than the read timing out.
  bool ReadsEof() {
    char c;
    boost::system::error_code ec;
    stream_->read_some(boost::asio::buffer(&c, 1), ec);
    return ec && ec != boost::asio::error::would_block && ec != boost::asio::error::try_again &&
           ec != boost::asio::error::timed_out;
  }

 private:
  int port_;
  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  std::optional<boost::beast::ssl_stream<boost::asio::ip::tcp::socket>> stream_;
  boost::beast::flat_buffer buffer_;
};

// One request on a new connection.
inline absl::StatusOr<ClientResponse> Fetch(
    int port, const std::string& ca_pem, const std::string& method, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    std::optional<ClientIdentity> id = std::nullopt, std::string body = "") {
  TestClient c(port, ca_pem, std::move(id));
  if (absl::Status s = c.Connect(); !s.ok()) return s;
  return c.Request(method, target, std::move(headers), std::move(body));
}

// A plain TCP connection to 127.0.0.1:`port` (-1 on failure); reads give up after `timeout_s`.
inline int RawConnect(int port, int timeout_s = 5) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// True when the peer closed `fd` (read returns 0 or a reset) before the read timeout.
inline bool RawReadsEof(int fd) {
  char buf[256];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
    // Bytes (a TLS alert, say) before the close: keep reading.
  }
}

}  // namespace nodegate::http::testing
