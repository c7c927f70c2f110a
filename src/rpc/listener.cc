#include "rpc/listener.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "tls/handshake_failure.h"

namespace nodegate::rpc {
namespace {

// Trips are logged at most this often per listener (a flood must not flood the log).
constexpr absl::Duration kWarningInterval = absl::Seconds(1);
// How long the loop waits before trying again when it could not even shed a connection.
constexpr int kBackoffMs = 100;
// Handed-over sockets are checked at least this often, so `open` follows closes while idle.
constexpr absl::Duration kSweepInterval = absl::Seconds(1);
// How long a new connection on a TLS endpoint may take to send its first bytes before it is
// handed to gRPC unscreened.
constexpr absl::Duration kFirstBytesWait = absl::Seconds(1);

std::string PeerName(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
    port = ntohs(v4->sin_port);
    return absl::StrCat(host, ":", port);
  }
  if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
    port = ntohs(v6->sin6_port);
    return absl::StrCat("[", host, "]:", port);
  }
  return "?";
}

// An HTTP/2 server preface (empty SETTINGS) and a GOAWAY(PROTOCOL_ERROR) whose debug data says
// why: what an h2c client can print.
std::string H2cGoaway() {
  const std::string debug =
      "this port speaks TLS (gRPC over HTTPS); the client sent cleartext HTTP/2 (h2c)";
  std::string out("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);  // SETTINGS, empty
  const size_t len = 8 + debug.size();
  out.push_back(static_cast<char>((len >> 16) & 0xff));
  out.push_back(static_cast<char>((len >> 8) & 0xff));
  out.push_back(static_cast<char>(len & 0xff));
  out.append("\x07\x00\x00\x00\x00\x00", 6);          // GOAWAY, no flags, stream 0
  out.append("\x00\x00\x00\x00\x00\x00\x00\x01", 8);  // last stream 0, PROTOCOL_ERROR
  out.append(debug);
  return out;
}

// Best effort, never blocking: the socket is non-blocking and about to be closed.
void SendAndClose(int fd, const std::string& bytes) {
  char sink[4096];
  while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
  }
  if (!bytes.empty()) (void)!send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
  close(fd);
}

std::string Errno(int e) { return std::strerror(e); }

int OpenDescriptorCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    --n;  // the directory stream's own descriptor
  }
  return n;
}

int SoftDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20));
}

}  // namespace

// The descriptor is looked up by path in /proc/self/fd, never used itself: its owner may close it
// (and the number be reused) at any moment, and stat() of the path then fails or names another
// file, where fstat() on the number would act on a descriptor this thread no longer owns.
std::optional<uint64_t> SocketLedger::InodeOf(int fd) {
  char path[32];
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  struct stat st {};
  if (stat(path, &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.st_ino);
}

bool SocketLedger::Add(int fd) {
  const std::optional<uint64_t> inode = InodeOf(fd);
  if (!inode) return false;
  entries_.push_back({fd, *inode});
  return true;
}

size_t SocketLedger::Sweep() {
  size_t kept = 0;
  for (const Entry& e : entries_) {
    if (InodeOf(e.fd) == e.inode) entries_[kept++] = e;
  }
  entries_.resize(kept);
  return kept;
}

int RaiseDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      spdlog::warn("cannot raise the open-file limit from {} to {}: {}", rl.rlim_cur, rl.rlim_max,
                   Errno(errno));
    }
  }
  return SoftDescriptorLimit();
}

absl::StatusOr<std::unique_ptr<Listener>> Listener::Bind(const std::string& address,
                                                         ListenerLimits limits) {
  if (limits.max_connections < 1) {
    return absl::InvalidArgumentError("max_connections: must be at least 1");
  }
  if (limits.fd_headroom < 16) return absl::InvalidArgumentError("fd_headroom: must be >= 16");
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot listen on ", address, ": expected host:port (\"[v6]:port\" for IPv6)"));
  }
  std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port_number = 0;
  if (!absl::SimpleAtoi(port_text, &port_number) || port_number < 0 || port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on ", address, ": port must be 0..65535"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const char* node = host.empty() || host == "*" ? nullptr : host.c_str();
  if (int rc = getaddrinfo(node, port_text.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on ", address, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);

  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", Errno(errno)));
  }
  // SO_REUSEADDR lets a restarted node bind past TIME_WAIT; SO_REUSEPORT is left off on purpose.
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
    const int e = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", Errno(e)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const int port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  const int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    const int e = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", Errno(e)));
  }
  const std::string bound_address =
      absl::StrCat(found->ai_family == AF_INET6 ? absl::StrCat("[", host, "]") : host, ":", port);
  return std::unique_ptr<Listener>(new Listener(fd, wake, bound_address, port, limits));
}

Listener::Listener(int fd, int wake_fd, std::string address, int port, ListenerLimits limits)
    : fd_(fd), wake_fd_(wake_fd), address_(std::move(address)), port_(port), limits_(limits) {
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

Listener::~Listener() {
  Stop();
  close(wake_fd_);
  if (spare_fd_ >= 0) close(spare_fd_);
}

void Listener::Start(Handoff handoff) {
  handoff_ = std::move(handoff);
  thread_ = std::thread([this] { Run(); });
}

void Listener::Stop() {
  if (stopped_.exchange(true)) return;
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  for (const Parked& p : parked_) close(p.fd);  // never handed over: still ours
  parked_.clear();
  close(fd_);
}

ListenerStats Listener::stats() const {
  ListenerStats s;
  s.accepted = accepted_.load(std::memory_order_relaxed);
  s.open = open_.load(std::memory_order_relaxed);
  s.refused_connection_limit = refused_limit_.load(std::memory_order_relaxed);
  s.refused_fd_headroom = refused_fds_.load(std::memory_order_relaxed);
  s.accept_errors = accept_errors_.load(std::memory_order_relaxed);
  return s;
}

int Listener::FreeDescriptors(absl::Time now) {
  if (now - last_fd_count_ >= absl::Milliseconds(100)) {
    free_fds_ = SoftDescriptorLimit() - OpenDescriptorCount();
    last_fd_count_ = now;
  }
  return free_fds_;
}

void Listener::Run() {
  int backoff_ms = 0;
  while (!stopped_.load(std::memory_order_acquire)) {
    std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0},
                               {fd_, static_cast<short>(backoff_ms ? 0 : POLLIN), 0}};
    int timeout_ms =
        backoff_ms ? backoff_ms : static_cast<int>(absl::ToInt64Milliseconds(kSweepInterval));
    const absl::Time before = absl::Now();
    for (const Parked& p : parked_) {
      fds.push_back({p.fd, POLLIN, 0});
      const int64_t wait_ms =
          std::max<int64_t>(1, absl::ToInt64Milliseconds(p.deadline - before) + 1);
      timeout_ms = static_cast<int>(std::min<int64_t>(timeout_ms, wait_ms));
    }
    backoff_ms = 0;
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (stopped_.load(std::memory_order_acquire)) break;
    const absl::Time now = absl::Now();
    if (!parked_.empty()) {
      std::vector<Parked> still;
      for (size_t i = 0; i < parked_.size(); ++i) {
        Parked& p = parked_[i];
        const bool ready = fds[i + 2].revents != 0;
        if ((ready || now >= p.deadline) && Decide(p.fd, p.peer, /*waited_out=*/true, now)) {
          continue;
        }
        still.push_back(std::move(p));
      }
      parked_ = std::move(still);
    }
    if (now - last_sweep_ >= kSweepInterval) {
      open_.store(ledger_.Sweep(), std::memory_order_relaxed);
      last_sweep_ = now;
    }
    if (n <= 0 || !(fds[1].revents & POLLIN)) continue;
    while (!stopped_.load(std::memory_order_acquire)) {
      const int more = AcceptOne();
      if (more == 0) break;
      if (more < 0) {  // could not even shed: let the backlog wait
        backoff_ms = kBackoffMs;
        break;
      }
    }
  }
}

int Listener::AcceptOne() {
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof(peer);
  const int fd =
      accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  const absl::Time now = absl::Now();
  const bool may_warn = now - last_warning_ >= kWarningInterval;
  if (fd < 0) {
    const int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR) return 0;
    if (e == EMFILE || e == ENFILE) {
      refused_fds_.fetch_add(1, std::memory_order_relaxed);
      if (may_warn) {
        spdlog::warn("grpc listener {}: out of file descriptors ({}); shedding new connections",
                     address_, Errno(e));
        last_warning_ = now;
      }
      return Shed() ? 1 : -1;
    }
    if (e == ECONNABORTED || e == EPROTO) return 1;  // the peer gave up: next one
    accept_errors_.fetch_add(1, std::memory_order_relaxed);
    if (may_warn) {
      spdlog::warn("grpc listener {}: accept failed: {} (retrying)", address_, Errno(e));
      last_warning_ = now;
    }
    return -1;
  }

  // Over the cap? Sweep first: the count may include connections gRPC has closed since.
  size_t open = ledger_.size();
  if (open >= static_cast<size_t>(limits_.max_connections)) {
    open = ledger_.Sweep();
    last_sweep_ = now;
  }
  const char* refused = nullptr;
  if (open >= static_cast<size_t>(limits_.max_connections)) {
    refused_limit_.fetch_add(1, std::memory_order_relaxed);
    refused = "connection limit (grpc.max_connections)";
  } else if (FreeDescriptors(now) < limits_.fd_headroom) {
    refused_fds_.fetch_add(1, std::memory_order_relaxed);
    refused = "file-descriptor headroom (grpc.fd_headroom)";
  }
  if (refused != nullptr) {
    if (may_warn) {
      spdlog::warn("grpc listener {}: connection refused: {}; {} open", address_, refused, open);
      last_warning_ = now;
    }
    open_.store(open, std::memory_order_relaxed);
    close(fd);
    return 1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!ledger_.Add(fd)) {
    close(fd);
    return 1;
  }
  accepted_.fetch_add(1, std::memory_order_relaxed);
  open_.store(ledger_.size(), std::memory_order_relaxed);
  --free_fds_;
  if (screen_log_ != nullptr) {
    Screen(fd, PeerName(peer), now);
  } else {
    handoff_(fd);
  }
  return 1;
}

void Listener::ScreenPlaintext(std::shared_ptr<observe::HandshakeLog> log, std::string name) {
  screen_log_ = std::move(log);
  screen_name_ = std::move(name);
}

void Listener::Screen(int fd, std::string peer, absl::Time now) {
  if (Decide(fd, peer, /*waited_out=*/false, now)) return;
  parked_.push_back(Parked{fd, std::move(peer), now + kFirstBytesWait});
}

bool Listener::Decide(int fd, const std::string& peer, bool waited_out, absl::Time now) {
  char first[16];
  const ssize_t n = recv(fd, first, sizeof(first), MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !waited_out) return false;
  if (n <= 0) {  // nothing yet (waited out), closed, or reset: gRPC's handshake deals with it
    handoff_(fd);
    return true;
  }
  const tls::FirstBytes kind =
      tls::ClassifyFirstBytes(std::string_view(first, static_cast<size_t>(n)));
  if (kind == tls::FirstBytes::kTls) {
    handoff_(fd);
    return true;
  }
  observe::HandshakeRefusal r;
  r.listener = screen_name_;
  r.peer = peer;
  r.reason = std::string(tls::HandshakeReasonLabel(tls::HandshakeReason::kPlaintext));
  r.words = std::string(tls::HandshakeReasonWords(tls::HandshakeReason::kPlaintext));
  switch (kind) {
    case tls::FirstBytes::kHttp1:
      r.detail = "a plain HTTP/1 request; answered 400";
      break;
    case tls::FirstBytes::kH2cPreface:
      r.detail =
          "cleartext HTTP/2 (h2c) preface; answered GOAWAY — use TLS (not an insecure channel)";
      break;
    default:
      r.detail = "the first bytes are not a TLS ClientHello";
  }
  screen_log_->Record(r, now);
  SendAndClose(fd, kind == tls::FirstBytes::kHttp1        ? tls::PlainHttpOnTlsPortResponse()
                   : kind == tls::FirstBytes::kH2cPreface ? H2cGoaway()
                                                          : std::string());
  return true;
}

bool Listener::Shed() {
  if (spare_fd_ < 0) {
    spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return false;
  }
  close(spare_fd_);
  const int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) close(fd);
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0;
}

}  // namespace nodegate::rpc
