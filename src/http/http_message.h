// One HTTP request and its response, transport-free: what HttpsServer hands a handler (the Gateway,
// the XML-RPC endpoint) and gets back, so that handlers are tested without sockets.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tls/peer_identity.h"

namespace nodegate::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", …
  std::string path;    // without the query string, percent-decoded (%XX; '+' kept)
  std::multimap<std::string, std::string> query;    // decoded
  std::multimap<std::string, std::string> headers;  // names lower-case
  std::string body;
  tls::PeerIdentity peer;  // the verified client certificate, if any
  std::string remote;      // "ip:port", for the access log
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace nodegate::http
