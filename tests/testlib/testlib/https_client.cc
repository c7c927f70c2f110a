#include "testlib/https_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"

namespace nodegate::testlib {

TestClient::TestClient(int port, const std::string& ca_pem, std::optional<ClientIdentity> id)
    : port_(port), ctx_(boost::asio::ssl::context::tls_client) {
  ctx_.add_certificate_authority(boost::asio::buffer(ca_pem));
  ctx_.set_verify_mode(boost::asio::ssl::verify_peer);
  if (id) {
    ctx_.use_certificate_chain(boost::asio::buffer(id->cert_pem));
    ctx_.use_private_key(boost::asio::buffer(id->key_pem), boost::asio::ssl::context::pem);
  }
}

absl::Status TestClient::Connect() {
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

absl::Status TestClient::SendRaw(const std::string& raw) {
  boost::system::error_code ec;
  boost::asio::write(*stream_, boost::asio::buffer(raw), ec);
  if (ec) return absl::UnavailableError("write: " + ec.message());
  return absl::OkStatus();
}

absl::StatusOr<ClientResponse> TestClient::Request(const std::string& method,
                                                   const std::string& target,
                                                   const Headers& headers, std::string body) {
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

absl::StatusOr<ClientResponse> TestClient::ReadResponse() {
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

bool TestClient::ReadsEof() {
  char c;
  boost::system::error_code ec;
  stream_->read_some(boost::asio::buffer(&c, 1), ec);
  return ec && ec != boost::asio::error::would_block && ec != boost::asio::error::try_again &&
         ec != boost::asio::error::timed_out;
}

absl::StatusOr<ClientResponse> Fetch(int port, const std::string& ca_pem, const std::string& method,
                                     const std::string& target, const Headers& headers,
                                     std::optional<ClientIdentity> id, std::string body) {
  TestClient c(port, ca_pem, std::move(id));
  if (absl::Status s = c.Connect(); !s.ok()) return s;
  return c.Request(method, target, headers, std::move(body));
}

}  // namespace nodegate::testlib
