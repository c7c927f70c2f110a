#include "testlib/postgres_server.h"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/postgres/pg_connection.h"

namespace nodegate::testlib {
namespace {

constexpr char kDefaultBinDir[] = "/usr/lib/postgresql/15/bin";
constexpr char kSuperuser[] = "nodegate";

// $NODEGATE_PG_BIN, else Debian's PostgreSQL 15.
std::string BinDir() {
  const char* env = std::getenv("NODEGATE_PG_BIN");
  return env != nullptr && env[0] != '\0' ? env : kDefaultBinDir;
}

using RunAs = PostgresServer::RunAs;

// Whom the server's processes run as: ourselves, or `postgres` when we are root.
absl::StatusOr<RunAs> ServerUser() {
  RunAs who;
  if (geteuid() != 0) return who;
  struct passwd* pw = getpwnam("postgres");
  if (pw == nullptr) {
    return absl::FailedPreconditionError(
        "testlib: running as root, and there is no `postgres` user to run PostgreSQL as "
        "(PostgreSQL refuses root); run scripts/install-deps (the postgresql package creates it)");
  }
  who.switch_user = true;
  who.uid = pw->pw_uid;
  who.gid = pw->pw_gid;
  return who;
}

absl::Status GiveTo(const RunAs& who, const std::string& path) {
  if (!who.switch_user) return absl::OkStatus();
  if (chown(path.c_str(), who.uid, who.gid) != 0) {
    return absl::InternalError(absl::StrCat("testlib: chown ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string Tail(const std::string& path, size_t bytes = 2000) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  return text.size() > bytes ? "..." + text.substr(text.size() - bytes) : text;
}

// Starts argv[0] with stdout and stderr appended to log_path, as `who`; the child dies with
// the calling thread if die_with_parent. Returns its pid.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const RunAs& who,
                            const std::string& log_path, bool die_with_parent) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    return absl::InternalError(absl::StrCat("testlib: ", log_path, ": ", std::strerror(errno)));
  }
  if (absl::Status s = GiveTo(who, log_path); !s.ok()) {
    close(log);
    return s;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log);
    return absl::InternalError(absl::StrCat("testlib: fork: ", std::strerror(errno)));
  }
  if (pid == 0) {  // only async-signal-safe calls from here on
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    if (who.switch_user &&
        (setgroups(0, nullptr) != 0 || setgid(who.gid) != 0 || setuid(who.uid) != 0)) {
      _exit(126);
    }
    // After setuid: a change of credentials clears the parent-death signal.
    if (die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGQUIT);  // SIGQUIT: PostgreSQL's immediate shutdown
      if (getppid() != parent) _exit(125);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  close(log);
  return pid;
}

// Runs argv to completion; an error with the log's tail unless it exits 0.
absl::Status Run(const std::vector<std::string>& argv, const RunAs& who,
                 const std::string& log_path) {
  absl::StatusOr<pid_t> pid = Spawn(argv, who, log_path, /*die_with_parent=*/false);
  if (!pid.ok()) return pid.status();
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("testlib: ", argv[0], " failed (status ", status,
                                          "); its output:\n", Tail(log_path)));
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// The initdb'd template data directory of this build tree, made once (under a lock, so that
// test processes started in parallel make it once).
absl::StatusOr<std::string> TemplateDir(const RunAs& who) {
  std::error_code ec;
  std::filesystem::create_directories(ScopedTempDir::Root(), ec);
  const std::string base =
      std::filesystem::path(ScopedTempDir::Root()).parent_path().string() + "/pg-template-15";
  const std::string lock_path = base + ".lock";
  const int lock = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) {
    return absl::InternalError(absl::StrCat("testlib: ", lock_path, ": ", std::strerror(errno)));
  }
  auto unlock = [lock] { close(lock); };  // closing releases the flock
  if (flock(lock, LOCK_EX) != 0) {
    unlock();
    return absl::InternalError(absl::StrCat("testlib: flock ", lock_path));
  }
  if (std::filesystem::exists(base + "/PG_VERSION")) {
    unlock();
    return base;
  }
  std::string scratch = base + ".tmp-XXXXXX";
  if (mkdtemp(scratch.data()) == nullptr) {
    unlock();
    return absl::InternalError(absl::StrCat("testlib: mkdtemp ", scratch));
  }
  absl::Status s = GiveTo(who, scratch);
  if (s.ok()) {
    // -N: no fsync; a template lost in a host crash is made again.
    s = Run({BinDir() + "/initdb", "-D", scratch + "/data", "-U", kSuperuser, "-A", "trust", "-E",
             "UTF8", "--locale=C", "-N"},
            who, scratch + "/initdb.log");
  }
  if (s.ok()) {
    std::filesystem::remove_all(base, ec);
    std::filesystem::rename(scratch + "/data", base, ec);
    if (ec) s = absl::InternalError(absl::StrCat("testlib: rename to ", base, ": ", ec.message()));
  }
  std::filesystem::remove_all(scratch, ec);
  unlock();
  if (!s.ok()) return s;
  return base;
}

std::string ConnectionString(int port, const std::string& extra = "") {
  return absl::StrCat("host=127.0.0.1 port=", port, " user=", kSuperuser, " dbname=postgres",
                      extra.empty() ? "" : " ", extra);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  for (const char* binary : {"initdb", "postgres"}) {
    const std::string path = BinDir() + "/" + binary;
    if (access(path.c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "testlib: PostgreSQL server binary ", path,
          " is missing; run scripts/install-deps (it installs the postgresql package), or set "
          "NODEGATE_PG_BIN to the directory holding initdb and postgres"));
    }
  }
  absl::StatusOr<RunAs> who = ServerUser();
  if (!who.ok()) return who.status();
  absl::StatusOr<std::string> templ = TemplateDir(*who);
  if (!templ.ok()) return templ.status();

  auto dir = std::make_unique<ScopedTempDir>("pg");
  if (absl::Status s = GiveTo(*who, dir->path()); !s.ok()) return s;
  if (absl::Status s = Run({"/bin/cp", "-a", *templ, dir->File("data")}, *who, dir->File("cp.log"));
      !s.ok()) {
    return s;
  }
  const std::string sockets = dir->File("sock");
  if (mkdir(sockets.c_str(), 0700) != 0) {
    return absl::InternalError(absl::StrCat("testlib: mkdir ", sockets));
  }
  if (absl::Status s = GiveTo(*who, sockets); !s.ok()) return s;

  std::unique_ptr<PostgresServer> server(new PostgresServer(std::move(dir), *who));
  absl::Status launched;
  for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take the port first
    server->port_ = FreeLoopbackPort();
    if (server->port_ < 0) return absl::InternalError("testlib: no free loopback port");
    launched = server->Launch();
    if (launched.ok()) return server;
  }
  return launched;
}

absl::Status PostgresServer::Launch() {
  const std::string log = dir_->File("postgres.log");
  // fsync off: these tests check what replicas see, not what survives a power cut.
  absl::StatusOr<pid_t> pid =
      Spawn({BinDir() + "/postgres", "-D", dir_->File("data"), "-p", absl::StrCat(port_), "-k",
             dir_->File("sock"), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
             "full_page_writes=off", "-c", "shared_buffers=16MB", "-c", "max_connections=60"},
            who_, log, /*die_with_parent=*/true);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  absl::StatusOr<store::PgConnectParams> params =
      store::ConnectParamsFromUrl(AdminUrl(), store::PgSessionLimits());
  if (!params.ok()) return params.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;  // it gave up (e.g. the port was taken)
      break;
    }
    if (store::PgConnection::Connect(*params).ok()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(50));
  }
  Stop();
  return absl::UnavailableError(
      absl::StrCat("testlib: PostgreSQL did not start; its log:\n", Tail(log)));
}

void PostgresServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGINT);  // fast shutdown: ends sessions, no waiting for clients
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  pid_ = -1;
}

absl::Status PostgresServer::Restart() {
  Stop();
  return Launch();
}

absl::StatusOr<PostgresServer*> PostgresServer::Shared() {
  // Destroyed at exit, which stops the server and removes its directory.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> shared = Start();
  if (!shared.ok()) return shared.status();
  return shared->get();
}

PostgresServer::~PostgresServer() {
  Stop();
  // dir_ goes next and removes the data directory.
}

std::string PostgresServer::AdminUrl() const { return ConnectionString(port_); }

absl::StatusOr<std::string> PostgresServer::NewDatabaseUrl() {
  absl::StatusOr<store::PgConnectParams> params =
      store::ConnectParamsFromUrl(AdminUrl(), store::PgSessionLimits());
  if (!params.ok()) return params.status();
  absl::StatusOr<std::unique_ptr<store::PgConnection>> admin =
      store::PgConnection::Connect(*params);
  if (!admin.ok()) return admin.status();
  const std::string schema = absl::StrCat("t", ++schemas_, "_", getpid());
  if (absl::Status s = (*admin)->Exec(absl::StrCat("CREATE SCHEMA ", schema)); !s.ok()) return s;
  return ConnectionString(port_, absl::StrCat("options='-c search_path=", schema, "'"));
}

}  // namespace nodegate::testlib
