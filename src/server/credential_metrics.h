// What a node publishes about its credential snapshot (issue 14): how long since the store last
// confirmed it, the bound on that, and how many refreshes failed. Read at scrape time.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "auth/credential_cache.h"
#include "observe/metrics.h"

namespace nodegate::server {

// Adds nodegate_credential_snapshot_age_seconds (gauge), nodegate_credential_max_age_seconds
// (gauge), nodegate_credential_generation (gauge: the store generation of the snapshot) and
// nodegate_credential_refresh_failures_total (counter). `cache` must outlive `metrics`' last
// render.
void RegisterCredentialMetrics(observe::Metrics& metrics, const auth::CredentialCache* cache);

// The same age, bound and generation as numbers for /readyz's body (both answers), by field name.
std::vector<std::pair<std::string, double>> CredentialReadyDetails(
    const auth::CredentialCache& cache);

}  // namespace nodegate::server
