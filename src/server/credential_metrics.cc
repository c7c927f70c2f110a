#include "server/credential_metrics.h"

namespace nodegate::server {

void RegisterCredentialMetrics(observe::Metrics& metrics, const auth::CredentialCache* cache) {
  using Sample = observe::Metrics::Sample;
  metrics.AddCallback("nodegate_credential_snapshot_age_seconds",
                      "Seconds since the credential store last confirmed the in-memory snapshot.",
                      "gauge", [cache] {
                        return std::vector<Sample>{{"", absl::ToDoubleSeconds(cache->age())}};
                      });
  metrics.AddCallback(
      "nodegate_credential_max_age_seconds",
      "auth.credential_max_age: past this snapshot age, calls it decides are refused.", "gauge",
      [cache] {
        return std::vector<Sample>{{"", absl::ToDoubleSeconds(cache->max_age())}};
      });
  metrics.AddCallback(
      "nodegate_credential_generation",
      "Store change generation the credential snapshot was loaded at (grows with every change).",
      "gauge", [cache] {
        return std::vector<Sample>{{"", static_cast<double>(cache->generation())}};
      });
  metrics.AddCallback(
      "nodegate_credential_refresh_failures_total",
      "Credential snapshot refreshes that could not read the store.", "counter", [cache] {
        return std::vector<Sample>{{"", static_cast<double>(cache->refresh_failures())}};
      });
}

std::vector<std::pair<std::string, double>> CredentialReadyDetails(
    const auth::CredentialCache& cache) {
  return {{"credential_snapshot_age_seconds", absl::ToDoubleSeconds(cache.age())},
          {"credential_max_age_seconds", absl::ToDoubleSeconds(cache.max_age())},
          // What `nodegate node add` & co. wait for (exact as a double below 2^53).
          {"credential_generation", static_cast<double>(cache.generation())}};
}

}  // namespace nodegate::server
