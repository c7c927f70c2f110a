#include "store/validation.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/utf8.h"
#include "store/absl_view.h"

namespace nodegate::store {
namespace {

constexpr size_t kMaxPemBytes = size_t{64} * 1024;

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

absl::Status ValidateId(std::string_view field, std::string_view value) {
  bool ok = !value.empty() && value.size() <= 128;
  for (char c : value) ok = ok && IsIdChar(c);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("store: ", AbslView(field), ": must match [A-Za-z0-9._-]{1,128}"));
}

absl::Status ValidateSha256Hex(std::string_view field, std::string_view value) {
  bool ok = value.size() == 64;
  for (char c : value) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "store: ", AbslView(field), ": expected 64 lower-case hex characters (SHA-256), got ",
      value.size(), " characters"));
}

absl::Status ValidatePrincipal(std::string_view field, std::string_view value) {
  if (value.empty() || value.size() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("store: ", AbslView(field), ": must be 1..256 bytes, got ", value.size()));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("store: ", AbslView(field), ": must not contain control characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRoles(std::string_view field, const std::vector<std::string>& roles) {
  for (const std::string& role : roles) {
    bool ok = !role.empty() && role.size() <= 64;
    for (unsigned char c : role) ok = ok && c > 0x20 && c < 0x7f && c != ',';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("store: ", AbslView(field),
                       ": each role must be 1..64 printable ASCII characters without ',' "
                       "or space"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAccessToken(const AccessToken& token) {
  if (absl::Status s = ValidateSha256Hex("access token hash", token.token_hash); !s.ok()) return s;
  if (absl::Status s = ValidatePrincipal("access token principal", token.principal); !s.ok()) {
    return s;
  }
  if (token.kind != "user" && token.kind != "node" && token.kind != "app") {
    return absl::InvalidArgumentError(
        "store: access token kind: must be \"user\", \"node\" or \"app\"");
  }
  if (absl::Status s = ValidateRoles("access token roles", token.roles); !s.ok()) return s;
  if (token.expires_at == absl::InfinitePast()) {
    return absl::InvalidArgumentError(
        "store: access token expires_at: InfinitePast; use InfiniteFuture for no expiry");
  }
  return absl::OkStatus();
}

absl::Status ValidateAppKey(const AppKey& key) {
  if (absl::Status s = ValidateId("app key", key.app_key); !s.ok()) return s;
  if (absl::Status s = ValidateSha256Hex("app key secret hash", key.secret_hash); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidatePrincipal("app key principal", key.principal); !s.ok()) return s;
  return ValidateRoles("app key roles", key.roles);
}

absl::Status ValidateJoinToken(const JoinToken& token) {
  if (absl::Status s = ValidateSha256Hex("join token hash", token.token_hash); !s.ok()) return s;
  if (absl::Status s = ValidateId("join token node id", token.node_id); !s.ok()) return s;
  if (absl::Status s = ValidateRoles("join token roles", token.roles); !s.ok()) return s;
  if (token.expires_at == absl::InfinitePast() || token.expires_at == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(
        "store: join token expires_at: must be a finite time (join tokens always expire)");
  }
  return absl::OkStatus();
}

absl::Status ValidateNodeKey(std::string_view field, std::string_view algorithm,
                             std::string_view public_key_pem) {
  if (algorithm.empty() || algorithm.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("store: ", AbslView(field), " algorithm: must be 1..64 bytes"));
  }
  if (public_key_pem.empty() || public_key_pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store: ", AbslView(field), " public key: must be 1..", kMaxPemBytes, " bytes of PEM"));
  }
  return absl::OkStatus();
}

absl::Status ValidateNodeRecord(const NodeRecord& record) {
  if (absl::Status s = ValidateId("node id", record.id); !s.ok()) return s;
  if (absl::Status s = ValidateNodeKey("node", record.algorithm, record.public_key_pem); !s.ok()) {
    return s;
  }
  if (!record.previous_public_key_pem.empty()) {
    if (absl::Status s = ValidateNodeKey("node previous", record.previous_algorithm,
                                         record.previous_public_key_pem);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ValidateRoles("node roles", record.roles); !s.ok()) return s;
  if (record.cert_serial.size() > 128) {
    return absl::InvalidArgumentError("store: node cert_serial: at most 128 bytes");
  }
  return absl::OkStatus();
}

absl::Status ValidateKvLimits(const KvLimits& limits) {
  if (limits.max_key_bytes <= 0 || limits.max_value_bytes <= 0 || limits.max_total_bytes <= 0 ||
      limits.max_keys <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store: kv limits: every limit must be positive (max_key_bytes=", limits.max_key_bytes,
        ", max_value_bytes=", limits.max_value_bytes, ", max_total_bytes=", limits.max_total_bytes,
        ", max_keys=", limits.max_keys, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateKvKey(std::string_view key, const KvLimits& limits) {
  if (key.empty()) return absl::InvalidArgumentError("store: kv: key must not be empty");
  if (static_cast<int64_t>(key.size()) > limits.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("store: kv: key of ", key.size(),
                                                   " bytes exceeds the limit of ",
                                                   limits.max_key_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateKvSet(std::string_view key, std::string_view value,
                           std::string_view content_type, const KvLimits& limits) {
  if (absl::Status s = ValidateKvKey(key, limits); !s.ok()) return s;
  // Keys travel in proto3 `string` fields (Keys, and the seed's clients): a key that is not
  // UTF-8 would be stored but break every strict client that lists it.
  if (!base::IsValidUtf8(key)) {
    return absl::InvalidArgumentError("store: kv: key must be valid UTF-8");
  }
  if (static_cast<int64_t>(value.size()) > limits.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("store: kv: value of ", value.size(),
                                                   " bytes exceeds the limit of ",
                                                   limits.max_value_bytes, " bytes"));
  }
  if (static_cast<int64_t>(content_type.size()) > kMaxContentTypeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("store: kv: content_type exceeds ", kMaxContentTypeBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateJobCode(std::string_view job_code) {
  if (job_code.empty() || job_code.size() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("store: lease job_code: must be 1..256 bytes, got ", job_code.size()));
  }
  return absl::OkStatus();
}

absl::Status ValidateLeaseOwner(std::string_view owner) {
  if (owner.empty() || owner.size() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("store: lease owner: must be 1..256 bytes, got ", owner.size()));
  }
  return absl::OkStatus();
}

absl::Status ValidateLeaseRequest(int port_lo, int port_hi, absl::Duration ttl, absl::Time now,
                                  bool has_is_bindable) {
  if (port_lo < 1 || port_hi > 65535 || port_lo > port_hi) {
    return absl::InvalidArgumentError(absl::StrCat("store: lease port range [", port_lo, ", ",
                                                   port_hi, "]: need 1 <= lo <= hi <= 65535"));
  }
  if (ttl <= absl::ZeroDuration() || ttl == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("store: lease ttl: must be positive and finite");
  }
  if (now == absl::InfinitePast() || now == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("store: lease now: must be a finite time");
  }
  if (!has_is_bindable) return absl::InvalidArgumentError("store: lease is_bindable: must be set");
  return absl::OkStatus();
}

absl::Status ValidateNonceRecords(const std::vector<NonceRecord>& records) {
  if (records.size() > kMaxNonceBatch) {
    return absl::InvalidArgumentError(absl::StrCat("store: nonce batch: at most ", kMaxNonceBatch,
                                                   " records, got ", records.size()));
  }
  for (const NonceRecord& r : records) {
    if (r.node_id.empty() || r.nonce.empty()) {
      return absl::InvalidArgumentError("store: nonce record: node_id and nonce are required");
    }
  }
  return absl::OkStatus();
}

std::vector<bool> FirstOccurrences(const std::vector<NonceRecord>& records) {
  std::vector<bool> first(records.size(), true);
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (size_t i = 0; i < records.size(); ++i) {
    first[i] = seen.emplace(records[i].node_id, records[i].nonce).second;
  }
  return first;
}

}  // namespace nodegate::store
