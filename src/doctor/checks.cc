#include "doctor/checks.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/principal.h"
#include "base/closest_name.h"
#include "http/https_server.h"

namespace nodegate::doctor {
namespace {

std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

// "in 12 days", "3 days ago".
std::string Relative(absl::Time t, absl::Time now) {
  const int64_t days = absl::ToInt64Hours(t - now) / 24;
  if (t >= now) return absl::StrCat("in ", days, days == 1 ? " day" : " days");
  return absl::StrCat(-days, -days == 1 ? " day" : " days", " ago");
}

std::string ServiceOf(const std::string& pattern) {
  if (pattern.size() < 2 || pattern[0] != '/') return "";
  size_t slash = pattern.find('/', 1);
  return std::string(pattern.substr(1, slash == std::string::npos ? std::string::npos : slash - 1));
}

std::string StripNginxComments(const std::string& text) {
  std::string out;
  bool comment = false;
  for (char c : text) {
    if (c == '#') comment = true;
    if (c == '\n') comment = false;
    if (!comment) out += c;
  }
  return out;
}

// The port of an nginx address ("127.0.0.1:9444", "[::1]:9444", "unix:/x" → nullopt).
std::optional<int> NginxPort(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || absl::StartsWith(address, "unix:")) return std::nullopt;
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port)) return std::nullopt;
  return port;
}

}  // namespace

Finding CheckListenerNamed(const std::string& field, const std::string& listen, X509* cert,
                           const std::string& cert_field) {
  Finding f;
  f.check = absl::StrCat(field, " host in ", cert_field, "'s names");
  absl::StatusOr<std::pair<std::string, int>> hp = http::SplitHostPort(std::string(listen), field);
  if (!hp.ok()) {
    f.level = Level::kFail;
    f.detail = std::string(hp.status().message());
    f.fix = absl::StrCat("set ", field, " to host:port");
    return f;
  }
  const std::string& host = hp->first;
  absl::StatusOr<pki::CertificateInfo> info = pki::DescribeCertificate(cert);
  std::vector<std::string> names;
  for (const std::string& san : info.ok() ? info->sans : std::vector<std::string>()) {
    if (absl::StartsWith(san, "DNS:") || absl::StartsWith(san, "IP:")) {
      names.push_back(san.substr(san.find(':') + 1));
    }
  }
  const std::string listed = names.empty() ? "no DNS or IP name" : absl::StrJoin(names, ", ");
  if (pki::IsWildcardHost(host)) {
    f.detail = absl::StrCat("listens on every address (", listen,
                            "); clients must dial one of the names it carries: ", listed);
    if (names.empty()) {
      f.level = Level::kWarn;
      f.fix = absl::StrCat("reissue ", cert_field,
                           " with --san for the names clients dial (nodegate pki issue --san)");
    }
    return f;
  }
  if (pki::CertificateNamesHost(cert, host)) {
    f.detail = absl::StrCat(host, " is among its names (", listed, ")");
    return f;
  }
  f.level = Level::kWarn;
  f.detail = absl::StrCat(cert_field, " does not name ", host, " (it names: ", listed,
                          "): a client that dials ", listen, " fails to verify the node");
  f.fix = absl::StrCat("reissue ", cert_field, " with --san ", host,
                       names.empty() ? ""
                                     : absl::StrCat(", or have clients dial ", names.front(),
                                                    " (--server-name ", names.front(), ")"));
  return f;
}

Finding CheckExpiry(std::string check, absl::Time not_after, absl::Time now,
                    absl::Duration warn_before, std::string fix) {
  Finding f{std::move(check), Level::kOk, "", ""};
  f.detail = absl::StrCat(not_after < now ? "expired " : "valid until ", Day(not_after), " (",
                          Relative(not_after, now), ")");
  if (not_after < now) {
    f.level = Level::kFail;
    f.fix = std::move(fix);
  } else if (not_after - now < warn_before) {
    f.level = Level::kWarn;
    f.fix = std::move(fix);
  }
  return f;
}

Finding CheckCrlNextUpdate(std::string check, absl::Time next_update, absl::Time now,
                           absl::Duration warn_before) {
  Finding f{std::move(check), Level::kOk, "", ""};
  if (next_update == absl::InfinitePast()) {
    f.detail = "has no nextUpdate (never goes stale)";
    return f;
  }
  const std::string fix =
      "re-sign it before then: nodegate pki crl --dir <pki dir> (the node reloads the file)";
  if (next_update < now) {
    f.level = Level::kFail;
    f.detail = absl::StrCat("nextUpdate ", Day(next_update), " (", Relative(next_update, now),
                            ") has passed: OpenSSL refuses every certificate of its CA");
    f.fix = fix;
  } else {
    f.detail = absl::StrCat("nextUpdate ", Day(next_update), " (", Relative(next_update, now), ")");
    if (next_update - now < warn_before) {
      f.level = Level::kWarn;
      f.fix = fix;
    }
  }
  return f;
}

Finding CheckUsage(std::string check, const pki::CertificateInfo& cert, const std::string& purpose,
                   std::string fix) {
  Finding f{std::move(check), Level::kOk, "", ""};
  const std::vector<std::string>& eku = cert.extended_key_usage;
  if (eku.empty()) {
    f.detail = "no extendedKeyUsage extension (any use allowed)";
  } else if (std::find(eku.begin(), eku.end(), purpose) != eku.end()) {
    f.detail = absl::StrCat("extendedKeyUsage: ", absl::StrJoin(eku, ", "));
  } else {
    f.level = Level::kFail;
    f.detail = absl::StrCat("extendedKeyUsage is ", absl::StrJoin(eku, ", "), " without ", purpose,
                            ": peers refuse it for that use");
    f.fix = std::move(fix);
  }
  return f;
}

Finding CheckReplayCapacity(size_t capacity, absl::Duration max_skew, double signed_per_second) {
  Finding f{"auth.signature.replay_cache_capacity", Level::kOk, "", ""};
  const double needed = std::ceil(signed_per_second * absl::ToDoubleSeconds(max_skew));
  const double wanted = std::ceil(needed * 1.25);
  const double sustained =
      static_cast<double>(capacity) / 1.25 / std::max(absl::ToDoubleSeconds(max_skew), 1e-3);
  f.detail = absl::StrCat(capacity, " nonces at most; at ", signed_per_second,
                          " signed calls/s each lives up to max_skew (",
                          absl::FormatDuration(max_skew), "): ~", needed, " held; sustains about ",
                          static_cast<int64_t>(sustained), " signed calls/s");
  if (static_cast<double>(capacity) < wanted) {
    f.level = Level::kWarn;
    f.detail +=
        ", fewer than the rate asked for: signed calls beyond it fail closed "
        "(RESOURCE_EXHAUSTED)";
    f.fix =
        absl::StrCat("set auth.signature.replay_cache_capacity = ", static_cast<int64_t>(wanted),
                     " (or lower auth.signature.max_skew)");
  }
  return f;
}

std::vector<Finding> CheckRules(const std::vector<auth::Rule>& rules,
                                const std::vector<std::string>& served_methods,
                                uint32_t enabled_authenticators) {
  std::vector<std::string> services;
  for (const std::string& m : served_methods) {
    std::string svc = ServiceOf(m);
    if (std::find(services.begin(), services.end(), svc) == services.end()) {
      services.push_back(svc);
    }
  }
  std::vector<Finding> out;
  for (const auth::Rule& rule : rules) {
    const std::string check = absl::StrCat("auth.rule ", rule.pattern);
    if (absl::EndsWith(rule.pattern, "/*")) {
      const std::string svc = ServiceOf(rule.pattern);
      if (std::find(services.begin(), services.end(), svc) == services.end()) {
        std::optional<std::string> near = base::ClosestName(svc, services);
        out.push_back({check, Level::kWarn,
                       absl::StrCat("names no service this node serves",
                                    near ? absl::StrCat(" (did you mean ", *near, "?)") : ""),
                       near ? absl::StrCat("method = \"/", *near, "/*\"")
                            : "remove the rule or fix the service name (nodegate list)"});
        continue;
      }
    } else if (std::find(served_methods.begin(), served_methods.end(), rule.pattern) ==
               served_methods.end()) {
      std::optional<std::string> near = base::ClosestName(rule.pattern, served_methods);
      out.push_back({check, Level::kWarn,
                     absl::StrCat("names no method this node serves, so it governs nothing",
                                  near ? absl::StrCat(" (did you mean ", *near, "?)") : ""),
                     near ? absl::StrCat("method = \"", *near, "\"")
                          : "remove the rule or fix the method name (nodegate list)"});
      continue;
    }
    const uint32_t accepted =
        (rule.authenticators == 0 ? auth::kAllAuthenticators : rule.authenticators) &
        enabled_authenticators;
    if (!rule.is_public && accepted == 0) {
      out.push_back({check, Level::kWarn,
                     absl::StrCat("accepts only ", auth::AuthenticatorNames(rule.authenticators),
                                  ", which auth.authenticators does not enable: every call to it "
                                  "is refused"),
                     "enable one of them in auth.authenticators, or change the rule's "
                     "authenticators"});
      continue;
    }
    out.push_back({check, Level::kOk,
                   rule.is_public
                       ? "public"
                       : absl::StrCat("names a served ",
                                      absl::EndsWith(rule.pattern, "/*") ? "service" : "method"),
                   ""});
  }
  return out;
}

std::vector<Finding> CheckNginxUnderscores(
    const std::vector<std::pair<std::string, std::string>>& files, const std::vector<int>& ports) {
  static const std::regex kUpstream(R"(upstream\s+([^\s{]+)\s*\{([^}]*)\})");
  static const std::regex kServer(R"((?:^|[;{\s])server\s+([^;\s]+))");
  static const std::regex kGrpcPass(R"(grpc_pass\s+(?:grpcs?://)?([^;\s]+)\s*;)");
  static const std::regex kUnderscores(R"(underscores_in_headers\s+on\s*;)");
  std::vector<std::pair<std::string, std::string>> stripped;
  bool underscores = false;
  std::map<std::string, std::vector<std::string>> upstreams;  // name → server addresses
  for (const auto& [path, text] : files) {
    stripped.emplace_back(path, StripNginxComments(text));
    const std::string& body = stripped.back().second;
    underscores = underscores || std::regex_search(body, kUnderscores);
    for (std::sregex_iterator it(body.begin(), body.end(), kUpstream), end; it != end; ++it) {
      const std::string block = (*it)[2];
      for (std::sregex_iterator s(block.begin(), block.end(), kServer); s != end; ++s) {
        upstreams[(*it)[1]].push_back((*s)[1]);
      }
    }
  }
  std::vector<Finding> out;
  if (underscores) return out;
  for (const auto& [path, body] : stripped) {
    for (std::sregex_iterator it(body.begin(), body.end(), kGrpcPass), end; it != end; ++it) {
      const std::string target = (*it)[1];
      std::vector<std::string> addresses = {target};
      if (auto up = upstreams.find(target); up != upstreams.end()) addresses = up->second;
      bool ours = false;
      for (const std::string& a : addresses) {
        std::optional<int> port = NginxPort(a);
        ours = ours || (port && std::find(ports.begin(), ports.end(), *port) != ports.end());
      }
      if (!ours) continue;
      out.push_back(
          {absl::StrCat("nginx ", path), Level::kWarn,
           absl::StrCat("proxies to this node (grpc_pass ", target,
                        ") without underscores_in_headers on: nginx drops app_key and app_secret "
                        "(the seed-003 spelling) before they reach the node"),
           "add `underscores_in_headers on;` to its server block (deploy/nginx/ has it), or have "
           "clients send app-key / app-secret"});
      break;
    }
  }
  return out;
}

Finding CheckClockSkew(const std::string& peer, absl::Duration skew, absl::Duration rtt,
                       bool signs_calls) {
  Finding f{absl::StrCat("clock against ", peer), Level::kOk, "", ""};
  const absl::Duration magnitude = absl::AbsDuration(skew);
  f.detail = absl::StrCat("its clock is ",
                          absl::FormatDuration(absl::Trunc(magnitude, absl::Microseconds(100))),
                          skew >= absl::ZeroDuration() ? " ahead of" : " behind", " ours (±",
                          absl::FormatDuration(absl::Trunc(rtt / 2, absl::Microseconds(100))), ")");
  if (magnitude <= absl::Seconds(1) + rtt / 2) return f;
  const std::string fix =
      "run NTP (systemd-timesyncd, chrony) on both hosts; signed calls must be dated within the "
      "node's auth.signature.max_skew (default 60s)";
  if (magnitude <= absl::Seconds(30) || !signs_calls) {
    f.level = Level::kWarn;
  } else {
    f.level = Level::kFail;
    f.detail += ": signed calls are near or past the default max_skew of 60s";
  }
  f.fix = fix;
  return f;
}

}  // namespace nodegate::doctor
