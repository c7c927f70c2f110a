#include "http/https_get.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace nodegate::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

absl::Status FromError(const beast::error_code& ec, const HttpsGetRequest& r, const char* step) {
  std::string where = absl::StrCat("https://", r.host, ":", r.port, r.path, ": ", step, ": ");
  if (ec == asio::error::connection_refused) {
    return absl::UnavailableError(absl::StrCat(where, "connection refused"));
  }
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(absl::StrCat(where, "timed out"));
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    return absl::FailedPreconditionError(absl::StrCat(where, ec.message()));
  }
  return absl::InternalError(absl::StrCat(where, ec.message()));
}

}  // namespace

absl::StatusOr<HttpsGetResponse> HttpsGet(const HttpsGetRequest& request) {
  if (request.ca_file.empty()) {
    return absl::InvalidArgumentError("https get: a CA file is required to verify the server");
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::error_code ec;
  ctx.load_verify_file(request.ca_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(request.ca_file, ": cannot load CA certificates: ", ec.message()));
  }
  if (!request.server_name.empty()) {
    ctx.set_verify_callback(asio::ssl::host_name_verification(request.server_name));
  }

  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(request.host, request.port, ec);
  if (ec) return FromError(ec, request, "resolve");
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(request.timeout);
  // SNI carries host names only (RFC 6066), never an IP address.
  beast::error_code not_ip;
  asio::ip::make_address(request.server_name, not_ip);
  if (!request.server_name.empty() && not_ip &&
      !SSL_set_tlsext_host_name(stream.native_handle(), request.server_name.c_str())) {
    return absl::InternalError("https get: cannot set SNI");
  }

  // Async operations under one deadline: the sync API has no timeouts.
  beast::get_lowest_layer(stream).expires_at(deadline);
  HttpsGetResponse out;
  beast::flat_buffer buffer;
  bhttp::request<bhttp::empty_body> req(bhttp::verb::get, request.path, 11);
  req.set(bhttp::field::host, request.host);
  req.set(bhttp::field::user_agent, "nodegate-cli");
  req.set(bhttp::field::connection, "close");
  bhttp::response<bhttp::string_body> res;
  absl::Status status = absl::OkStatus();

  beast::get_lowest_layer(stream).async_connect(endpoints, [&](beast::error_code e, auto) {
    if (e) {
      status = FromError(e, request, "connect");
      return;
    }
    stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) {
      if (e) {
        status = FromError(e, request, "TLS handshake");
        return;
      }
      beast::get_lowest_layer(stream).expires_at(deadline);
      bhttp::async_write(stream, req, [&](beast::error_code e, std::size_t) {
        if (e) {
          status = FromError(e, request, "write");
          return;
        }
        beast::get_lowest_layer(stream).expires_at(deadline);
        bhttp::async_read(stream, buffer, res, [&](beast::error_code e, std::size_t) {
          if (e) status = FromError(e, request, "read");
        });
      });
    });
  });
  io.run();
  if (!status.ok()) return status;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  return out;
}

}  // namespace nodegate::http
