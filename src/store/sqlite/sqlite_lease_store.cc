#include "store/sqlite/sqlite_lease_store.h"

#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/codec.h"
#include "store/validation.h"

namespace nodegate::store {
namespace {

constexpr char kColumns[] = "job_code, port, acquired_at, expires_at, owner";

PortLease ReadLease(const Statement& row) {
  PortLease lease;
  lease.job_code = row.ColumnText(0);
  lease.port = static_cast<int>(row.ColumnInt(1));
  lease.acquired_at = DecodeTime(row.ColumnInt(2));
  lease.expires_at = DecodeTime(row.ColumnInt(3));
  lease.owner = row.ColumnText(4);
  return lease;
}

// A live lease of another principal (rows from before owners were stored belong to anyone).
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

class SqliteLeaseStore final : public LeaseStore {
 public:
  explicit SqliteLeaseStore(std::shared_ptr<Database> database) : db_(std::move(database)) {}

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

    // BEGIN IMMEDIATE takes the file's write lock before we look, so no other thread or process
    // can lease the port we pick between the look and the insert.
    return db_->Write([&](Connection& c) -> absl::StatusOr<int> {
      std::optional<PortLease> own;
      {
        absl::StatusOr<Statement> select =
            c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM port_leases WHERE job_code = ?1"));
        if (!select.ok()) return select.status();
        absl::StatusOr<bool> row = select->BindText(1, job_code).Step();
        if (!row.ok()) return row.status();
        if (*row) own = ReadLease(*select);
      }
      if (own.has_value()) {
        if (HeldByOther(*own, owner, now_us)) return HeldByOtherError(job_code);
        if (absl::ToUnixMicros(own->expires_at) > now_us && own->port >= port_lo &&
            own->port <= port_hi) {
          absl::StatusOr<Statement> renew =
              c.Prepare("UPDATE port_leases SET expires_at = ?2, owner = ?3 WHERE job_code = ?1");
          if (!renew.ok()) return renew.status();
          if (absl::Status s =
                  renew->BindText(1, job_code).BindInt(2, expires_us).BindText(3, owner).Run();
              !s.ok()) {
            return s;
          }
          return own->port;
        }
        if (absl::Status s = DeleteJob(c, job_code); !s.ok()) return s;
      }

      std::vector<bool> taken(port_hi - port_lo + 1, false);
      {
        absl::StatusOr<Statement> select = c.Prepare(
            "SELECT port FROM port_leases WHERE port BETWEEN ?1 AND ?2 AND expires_at > ?3");
        if (!select.ok()) return select.status();
        select->BindInt(1, port_lo).BindInt(2, port_hi).BindInt(3, now_us);
        while (true) {
          absl::StatusOr<bool> row = select->Step();
          if (!row.ok()) return row.status();
          if (!*row) break;
          taken[select->ColumnInt(0) - port_lo] = true;
        }
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
        absl::StatusOr<Statement> insert = c.Prepare(
            "INSERT OR REPLACE INTO port_leases (job_code, port, acquired_at, expires_at, owner) "
            "VALUES (?1, ?2, ?3, ?4, ?5)");
        if (!insert.ok()) return insert.status();
        if (absl::Status s = insert->BindText(1, job_code)
                                 .BindInt(2, port)
                                 .BindInt(3, now_us)
                                 .BindInt(4, expires_us)
                                 .BindText(5, owner)
                                 .Run();
            !s.ok()) {
          return s;
        }
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
    return db_->Write([&](Connection& c) -> absl::Status {
      {
        absl::StatusOr<Statement> select =
            c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM port_leases WHERE job_code = ?1"));
        if (!select.ok()) return select.status();
        absl::StatusOr<bool> row = select->BindText(1, job_code).Step();
        if (!row.ok()) return row.status();
        if (*row && HeldByOther(ReadLease(*select), owner, now_us)) {
          return HeldByOtherError(job_code);
        }
      }
      if (absl::Status s = DeleteJob(c, job_code); !s.ok()) return s;
      if (c.Changes() == 0) return NotFound(job_code);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<PortLease> Get(std::string_view job_code) override {
    if (absl::Status s = ValidateJobCode(job_code); !s.ok()) return s;
    return db_->Read([&](Connection& c) -> absl::StatusOr<PortLease> {
      absl::StatusOr<Statement> select =
          c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM port_leases WHERE job_code = ?1"));
      if (!select.ok()) return select.status();
      absl::StatusOr<bool> row = select->BindText(1, job_code).Step();
      if (!row.ok()) return row.status();
      if (!*row) return NotFound(job_code);
      return ReadLease(*select);
    });
  }

  absl::StatusOr<std::vector<PortLease>> List() override {
    return db_->Read([&](Connection& c) -> absl::StatusOr<std::vector<PortLease>> {
      absl::StatusOr<Statement> select =
          c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM port_leases ORDER BY port"));
      if (!select.ok()) return select.status();
      std::vector<PortLease> leases;
      while (true) {
        absl::StatusOr<bool> row = select->Step();
        if (!row.ok()) return row.status();
        if (!*row) return leases;
        leases.push_back(ReadLease(*select));
      }
    });
  }

  absl::StatusOr<int> ExpireBefore(absl::Time now) override {
    return db_->Write([&](Connection& c) -> absl::StatusOr<int> {
      absl::StatusOr<Statement> remove =
          c.Prepare("DELETE FROM port_leases WHERE expires_at <= ?1");
      if (!remove.ok()) return remove.status();
      if (absl::Status s = remove->BindInt(1, EncodeTime(now)).Run(); !s.ok()) return s;
      return static_cast<int>(c.Changes());
    });
  }

 private:
  static absl::Status DeleteJob(Connection& c, std::string_view job_code) {
    absl::StatusOr<Statement> remove = c.Prepare("DELETE FROM port_leases WHERE job_code = ?1");
    if (!remove.ok()) return remove.status();
    return remove->BindText(1, job_code).Run();
  }

  const std::shared_ptr<Database> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LeaseStore>> OpenSqliteLeaseStore(
    std::shared_ptr<Database> database) {
  if (database == nullptr) return absl::InvalidArgumentError("store: lease store: no database");
  return std::make_unique<SqliteLeaseStore>(std::move(database));
}

}  // namespace nodegate::store
