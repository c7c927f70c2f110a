// LeaseStore on PostgreSQL: the same rules and messages as SqliteLeaseStore. Acquire and Release
// run under a transaction-scoped advisory lock (the counterpart of SQLite's BEGIN IMMEDIATE), so
// replicas pick ports one at a time; the PRIMARY KEY on port and UNIQUE job_code make a collision
// impossible even without it.
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/codec.h"
#include "store/postgres/postgres_stores.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

// "nglease" in ASCII.
constexpr int64_t kLeaseLock = 0x6e676c65617365;

constexpr char kColumns[] = "job_code, port, acquired_at, expires_at, owner";

PortLease ReadLease(const PgResult& r, int row) {
  PortLease lease;
  lease.job_code = r.Bytes(row, 0);
  lease.port = static_cast<int>(r.Int(row, 1));
  lease.acquired_at = DecodeTime(r.Int(row, 2));
  lease.expires_at = DecodeTime(r.Int(row, 3));
  lease.owner = r.Bytes(row, 4);
  return lease;
}

bool HeldByOther(const PortLease& lease, std::string_view owner, int64_t now_us) {
  return absl::ToUnixMicros(lease.expires_at) > now_us && !lease.owner.empty() &&
         lease.owner != owner;
}

absl::Status HeldByOtherError(std::string_view job_code) {
  return absl::PermissionDeniedError(
      absl::StrCat("store: job ", AbslView(job_code), " is held by another principal"));
}

absl::Status NotFound(std::string_view job_code) {
  return absl::NotFoundError(
      absl::StrCat("store: job ", AbslView(job_code), " holds no port lease"));
}

absl::Status LockLeases(PgConnection& c) {
  return c.Execute("SELECT pg_advisory_xact_lock($1)", PgParams().Int(kLeaseLock)).status();
}

absl::StatusOr<std::optional<PortLease>> JobLease(PgConnection& c, std::string_view job_code) {
  absl::StatusOr<PgResult> rows =
      c.Execute(absl::StrCat("SELECT ", kColumns, " FROM port_leases WHERE job_code = $1"),
                PgParams().Bytes(job_code));
  if (!rows.ok()) return rows.status();
  if (rows->rows() == 0) return std::nullopt;
  return ReadLease(*rows, 0);
}

absl::StatusOr<int64_t> DeleteJob(PgConnection& c, std::string_view job_code) {
  absl::StatusOr<PgResult> remove =
      c.Execute("DELETE FROM port_leases WHERE job_code = $1", PgParams().Bytes(job_code));
  if (!remove.ok()) return remove.status();
  return remove->affected();
}

class PostgresLeaseStore final : public LeaseStore {
 public:
  explicit PostgresLeaseStore(std::shared_ptr<PgDatabase> database) : db_(std::move(database)) {}

  absl::StatusOr<int> Acquire(std::string_view job_code, std::string_view owner, int port_lo,
                              int port_hi, absl::Duration ttl, absl::Time now,
                              std::function<bool(int)> is_bindable) override {
    if (absl::Status s = ValidateJobCode(job_code); !s.ok()) return s;
    if (absl::Status s = ValidateLeaseOwner(owner); !s.ok()) return s;
    if (absl::Status s = ValidateLeaseRequest(port_lo, port_hi, ttl, now, is_bindable != nullptr);
        !s.ok()) {
      return s;
    }
    const int64_t now_us = absl::ToUnixMicros(now);
    const int64_t expires_us = EncodeTime(now + ttl);

    return db_->Write([&](PgConnection& c) -> absl::StatusOr<int> {
      if (absl::Status s = LockLeases(c); !s.ok()) return s;
      absl::StatusOr<std::optional<PortLease>> own = JobLease(c, job_code);
      if (!own.ok()) return own.status();
      if (own->has_value()) {
        const PortLease& lease = **own;
        if (HeldByOther(lease, owner, now_us)) return HeldByOtherError(job_code);
        if (absl::ToUnixMicros(lease.expires_at) > now_us && lease.port >= port_lo &&
            lease.port <= port_hi) {
          absl::StatusOr<PgResult> renew =
              c.Execute("UPDATE port_leases SET expires_at = $2, owner = $3 WHERE job_code = $1",
                        PgParams().Bytes(job_code).Int(expires_us).Bytes(owner));
          if (!renew.ok()) return renew.status();
          return lease.port;
        }
        if (absl::StatusOr<int64_t> gone = DeleteJob(c, job_code); !gone.ok()) {
          return gone.status();
        }
      }

      std::vector<bool> taken(port_hi - port_lo + 1, false);
      {
        absl::StatusOr<PgResult> rows = c.Execute(
            "SELECT port FROM port_leases WHERE port BETWEEN $1 AND $2 AND expires_at > $3",
            PgParams().Int(port_lo).Int(port_hi).Int(now_us));
        if (!rows.ok()) return rows.status();
        for (int i = 0; i < rows->rows(); ++i) taken[rows->Int(i, 0) - port_lo] = true;
      }
      for (int port = port_lo; port <= port_hi; ++port) {
        if (taken[port - port_lo]) continue;
        bool bindable = false;
        try {  // the callback is the caller's code; nothing it throws may leave the store
          bindable = is_bindable(port);
        } catch (const std::exception& e) {
          return absl::InternalError(absl::StrCat("store: lease is_bindable threw: ", e.what()));
        } catch (...) {
          return absl::InternalError("store: lease is_bindable threw");
        }
        if (!bindable) continue;
        // Replaces an expired lease of another job on this port, if any.
        absl::StatusOr<PgResult> stale =
            c.Execute("DELETE FROM port_leases WHERE port = $1 AND expires_at <= $2",
                      PgParams().Int(port).Int(now_us));
        if (!stale.ok()) return stale.status();
        absl::StatusOr<PgResult> insert = c.Execute(
            "INSERT INTO port_leases (job_code, port, acquired_at, expires_at, owner) "
            "VALUES ($1, $2, $3, $4, $5)",
            PgParams().Bytes(job_code).Int(port).Int(now_us).Int(expires_us).Bytes(owner));
        if (!insert.ok()) return insert.status();
        return port;
      }
      return absl::ResourceExhaustedError(absl::StrCat("store: no free port in [", port_lo, ", ",
                                                       port_hi, "] for job ", AbslView(job_code)));
    });
  }

  absl::Status Release(std::string_view job_code, std::string_view owner, absl::Time now) override {
    if (absl::Status s = ValidateJobCode(job_code); !s.ok()) return s;
    if (absl::Status s = ValidateLeaseOwner(owner); !s.ok()) return s;
    const int64_t now_us = absl::ToUnixMicros(now);
    return db_->Write([&](PgConnection& c) -> absl::Status {
      if (absl::Status s = LockLeases(c); !s.ok()) return s;
      absl::StatusOr<std::optional<PortLease>> own = JobLease(c, job_code);
      if (!own.ok()) return own.status();
      if (!own->has_value()) return NotFound(job_code);
      if (HeldByOther(**own, owner, now_us)) return HeldByOtherError(job_code);
      absl::StatusOr<int64_t> gone = DeleteJob(c, job_code);
      if (!gone.ok()) return gone.status();
      if (*gone == 0) return NotFound(job_code);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<PortLease> Get(std::string_view job_code) override {
    if (absl::Status s = ValidateJobCode(job_code); !s.ok()) return s;
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<PortLease> {
      absl::StatusOr<std::optional<PortLease>> own = JobLease(c, job_code);
      if (!own.ok()) return own.status();
      if (!own->has_value()) return NotFound(job_code);
      return **own;
    });
  }

  absl::StatusOr<std::vector<PortLease>> List() override {
    return db_->Read([&](PgConnection& c) -> absl::StatusOr<std::vector<PortLease>> {
      absl::StatusOr<PgResult> rows =
          c.Execute(absl::StrCat("SELECT ", kColumns, " FROM port_leases ORDER BY port"));
      if (!rows.ok()) return rows.status();
      std::vector<PortLease> leases;
      leases.reserve(rows->rows());
      for (int i = 0; i < rows->rows(); ++i) leases.push_back(ReadLease(*rows, i));
      return leases;
    });
  }

  absl::StatusOr<int> ExpireBefore(absl::Time now) override {
    return db_->Write([&](PgConnection& c) -> absl::StatusOr<int> {
      absl::StatusOr<PgResult> remove = c.Execute("DELETE FROM port_leases WHERE expires_at <= $1",
                                                  PgParams().Int(EncodeTime(now)));
      if (!remove.ok()) return remove.status();
      return static_cast<int>(remove->affected());
    });
  }

 private:
  const std::shared_ptr<PgDatabase> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LeaseStore>> OpenPostgresLeaseStore(
    std::shared_ptr<PgDatabase> database) {
  if (database == nullptr) return absl::InvalidArgumentError("store: lease store: no database");
  return std::make_unique<PostgresLeaseStore>(std::move(database));
}

}  // namespace nodegate::store
