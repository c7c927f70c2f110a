// A real, private PostgreSQL server for tests (issue 14: no mock database anywhere).
//
// Debian's PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin, package `postgresql`, which
// scripts/install-deps installs) run from a scratch directory on a free loopback port, with the
// unix socket inside that directory and trust authentication on loopback. PostgreSQL refuses to
// run as root, so under root every server process runs as the unprivileged `postgres` user (the
// package creates it; the directory is chowned to it). initdb runs once per build tree into a
// template data directory (tests/unit/pg-template-15, under a lock); each server starts on a copy
// of it, which costs ~0.2 s instead of initdb's ~1 s. The server dies with the process that
// started it (PR_SET_PDEATHSIG), so an aborted test leaves none behind.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "testlib/temp_dir.h"

namespace nodegate::testlib {

class PostgresServer {
 public:
  // Whom the server's processes run as (set by Start).
  struct RunAs {
    bool switch_user = false;  // as root: run the server's processes as `postgres`
    uid_t uid = 0;
    gid_t gid = 0;
  };
  // FAILED_PRECONDITION naming scripts/install-deps if the binaries (or, as root, the postgres
  // user) are missing; otherwise the server's own log tail when it does not come up.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start();
  // One server for the whole test process, started on first use and stopped at exit. A failure to
  // start is remembered: every later call returns it without trying again.
  static absl::StatusOr<PostgresServer*> Shared();

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  // Stops the server (fast shutdown) and removes its directory.
  ~PostgresServer();

  // Stops the server (fast shutdown: sessions are ended) and starts it again on the same port and
  // data, as `pg_ctl restart -m fast` does. Clients see their connections drop meanwhile.
  absl::Status Restart();
  // Stops the server; Restart brings it back.
  void Stop();

  int port() const { return port_; }
  // A libpq connection string (no password: trust auth) whose tables live in a new, empty schema
  // of their own: stores opened on it see only each other. Two stores opened on the same url
  // share one database, as two replicas of a node do.
  absl::StatusOr<std::string> NewDatabaseUrl();
  // The connection string of the server's `postgres` database, as its superuser.
  std::string AdminUrl() const;

 private:
  PostgresServer(std::unique_ptr<ScopedTempDir> dir, RunAs who) : dir_(std::move(dir)), who_(who) {}
  // Starts `postgres` on port_ over dir_/data and waits until it accepts connections.
  absl::Status Launch();

  std::unique_ptr<ScopedTempDir> dir_;
  RunAs who_;
  pid_t pid_ = -1;
  int port_ = -1;
  int schemas_ = 0;
};

}  // namespace nodegate::testlib
