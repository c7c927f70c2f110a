// The checks of `nodegate doctor` that decide from values alone: no files, no sockets, no clock of
// their own. node_checks.cc and peer_checks.cc gather the values and call these.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "auth/policy.h"
#include "doctor/finding.h"
#include "pki/certificate_info.h"

namespace nodegate::doctor {

// Whether `cert` (configured as `cert_field`) names the host of a listener at `listen` (the
// config field `field`) as clients check it (pki::CertificateNamesHost). A wildcard host (0.0.0.0,
// ::) is ok, with the names clients may dial listed. Warn when it is missing: the node serves, but
// every client dialling that host fails verification.
Finding CheckListenerNamed(const std::string& field, const std::string& listen, X509* cert,
                           const std::string& cert_field);

// Fail once `not_after` has passed, warn within `warn_before` of it.
Finding CheckExpiry(std::string check, absl::Time not_after, absl::Time now,
                    absl::Duration warn_before, std::string fix);

// A CRL's nextUpdate (absl::InfinitePast() when it has none): fail once passed (OpenSSL then
// refuses every certificate of its CA), warn within `warn_before`.
Finding CheckCrlNextUpdate(std::string check, absl::Time next_update, absl::Time now,
                           absl::Duration warn_before);

// A certificate used for `purpose` ("serverAuth" or "clientAuth") carries that extended key usage,
// or no extendedKeyUsage extension at all (any use). Fail otherwise.
Finding CheckUsage(std::string check, const pki::CertificateInfo& cert, const std::string& purpose,
                   std::string fix);

// The replay cache keeps each nonce until its timestamp + max_skew, so at `signed_per_second` it
// needs about rate × max_skew entries; with less than 1.25× that (the shards fill unevenly) signed
// calls start failing closed with RESOURCE_EXHAUSTED. Warn below, with the capacity to set.
Finding CheckReplayCapacity(size_t capacity, absl::Duration max_skew, double signed_per_second);

// The config file's rules: each must name a served method (or "/pkg.Service/*" a served service),
// else it governs nothing (a typo leaves the method meant under the default rule); each non-public
// rule must accept at least one enabled authenticator, else every call to it is refused. One
// warning per such rule, with the nearest served name when there is one.
std::vector<Finding> CheckRules(const std::vector<auth::Rule>& rules,
                                const std::vector<std::string>& served_methods,
                                uint32_t enabled_authenticators);

// nginx configuration files, as (path, text): which of them grpc_pass to one of `ports` (directly
// or through an upstream block) while no file turns `underscores_in_headers on`. nginx then drops
// `app_key` / `app_secret` (the seed-003 spelling) before they reach the node. One warning per
// such file, nothing when no file proxies to these ports.
std::vector<Finding> CheckNginxUnderscores(
    const std::vector<std::pair<std::string, std::string>>& files, const std::vector<int>& ports);

// The peer's clock minus ours, measured at the middle of a call of round trip `rtt`. A signed call
// must be dated within the node's max_skew (default 60 s): ok within 1 s (+ rtt/2), warn to 30 s,
// beyond that fail when this side signs calls, warn otherwise.
Finding CheckClockSkew(const std::string& peer, absl::Duration skew, absl::Duration rtt,
                       bool signs_calls);

}  // namespace nodegate::doctor
