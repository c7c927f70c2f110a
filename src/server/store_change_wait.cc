#include "server/store_change_wait.h"

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "auth/store_credential_source.h"
#include "http/https_get.h"
#include "nlohmann/json.hpp"

namespace nodegate::server {
namespace {

// host:port of a listen address; a wildcard address is asked on loopback.
bool SplitListen(const std::string& listen, std::string* host, std::string* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  *host = listen.substr(0, colon);
  *port = listen.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return !host->empty() && !port->empty();
}

}  // namespace

absl::StatusOr<StoreChangeWait> WaitForStoreChange(const NodeConfig& config,
                                                   const store::Stores& stores,
                                                   absl::Duration timeout,
                                                   absl::Duration interval) {
  StoreChangeWait out;
  absl::StatusOr<uint64_t> target = auth::CredentialGeneration(*stores.nodes, *stores.credentials);
  if (!target.ok()) return target.status();
  out.generation = *target;
  if (config.http.listen.empty()) {
    out.outcome = StoreChangeWait::Outcome::kNoListener;
    return out;
  }
  http::HttpsGetRequest get;
  if (!SplitListen(config.http.listen, &get.host, &get.port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("http.listen: '", config.http.listen, "' is not host:port"));
  }
  if (get.port == "0") {  // chosen by the kernel at start: not known from the config
    out.outcome = StoreChangeWait::Outcome::kNoListener;
    return out;
  }
  // A wildcard listener is asked on loopback and its certificate checked for the chain only (it
  // need not name 127.0.0.1); a named address must be in the certificate, as for any client.
  if (get.host == "0.0.0.0") {
    get.host = "127.0.0.1";
  } else if (get.host == "::") {
    get.host = "::1";
  } else {
    get.server_name = get.host;
  }
  get.path = "/readyz";
  get.ca_file = config.tls.files.ca;
  if (get.ca_file.empty()) {
    return absl::FailedPreconditionError(
        "tls.ca: not set, so the node's certificate cannot be verified to ask it");
  }
  out.node_url = absl::StrCat("https://", config.http.listen, "/readyz");

  const absl::Time start = absl::Now();
  const absl::Time deadline = start + timeout;
  std::string last;
  while (true) {
    get.timeout = std::max(absl::Milliseconds(200), deadline - absl::Now());
    absl::StatusOr<http::HttpsGetResponse> r = http::HttpsGet(get);
    if (!r.ok()) {
      if (r.status().code() == absl::StatusCode::kUnavailable) {
        out.outcome = StoreChangeWait::Outcome::kNotRunning;
        out.waited = absl::Now() - start;
        return out;
      }
      if (r.status().code() != absl::StatusCode::kDeadlineExceeded) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot ask the node: ", r.status().message()));
      }
      last = std::string(r.status().message());
    } else {
      nlohmann::json body = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
      if (!body.is_object() || !body.contains("credential_generation") ||
          !body["credential_generation"].is_number()) {
        return absl::FailedPreconditionError(
            absl::StrCat(out.node_url, " answered ", r->status,
                         " without credential_generation (a node older than this tool?)"));
      }
      const auto seen = body["credential_generation"].get<double>();
      if (seen >= static_cast<double>(out.generation)) {
        out.outcome = StoreChangeWait::Outcome::kApplied;
        out.waited = absl::Now() - start;
        return out;
      }
      last = absl::StrCat("the node's credential snapshot is at generation ",
                          static_cast<uint64_t>(seen), ", the store at ", out.generation);
      if (body.contains("reason") && body["reason"].is_string()) {
        absl::StrAppend(&last, "; node not ready: ", body["reason"].get<std::string>());
      }
    }
    if (absl::Now() + interval >= deadline) break;
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(interval));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("the node at ", out.node_url, " has not loaded the change after ",
                   absl::FormatDuration(timeout), ": ", last,
                   " (it polls the store every auth.credentials_poll; see its log and /readyz)"));
}

}  // namespace nodegate::server
