// The TCP front of a gRPC listener: binds the address itself (SO_REUSEADDR, never SO_REUSEPORT,
// so a second node on the same port fails to start instead of silently taking half the traffic),
// accepts on its own thread, and hands each admitted socket to gRPC (an
// ExternalConnectionAcceptor), which then runs the TLS handshake and HTTP/2 on it.
//
// Why not let gRPC accept: gRPC 1.51's listener stops accepting for good after one accept4()
// fails with EMFILE, while the process stays up (facts §14), and it has no connection cap. Here
// an accept error never ends the loop (a spare descriptor is given up to accept and shed the
// connection, then the loop backs off), and sockets over `max_connections`, or that would leave
// fewer than `fd_headroom` free descriptors, are closed at once. Both trips are counted.
//
// gRPC owns a socket once it is handed over and closes it when the connection ends; the
// listener learns of that by checking, before admitting over the cap and once a second, that each
// handed-over descriptor still names the same socket (the inode behind /proc/self/fd/N; the
// descriptor itself is never touched once handed over).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "observe/handshake_log.h"

namespace nodegate::rpc {

struct ListenerLimits {
  // Open connections (handed to gRPC and not yet closed by it) beyond which new ones are closed.
  int max_connections = 4096;
  // Descriptors kept free for everything else the process opens (store, TLS files, logs).
  int fd_headroom = 128;
};

struct ListenerStats {
  uint64_t accepted = 0;  // handed to gRPC
  uint64_t open = 0;      // of those, still open
  uint64_t refused_connection_limit = 0;
  uint64_t refused_fd_headroom = 0;  // shed because descriptors ran short (EMFILE included)
  uint64_t accept_errors = 0;        // other accept4() failures (retried)
};

// Tracks handed-over sockets by (descriptor, inode). A descriptor closed by its new owner and
// reused for another file no longer matches its inode, so a stale entry is never counted twice.
class SocketLedger {
 public:
  // Records `fd` (must be open). False when it cannot be looked up (the caller should not hand it
  // over).
  bool Add(int fd);
  // Drops entries whose descriptor is closed or now names another file; returns how many remain.
  size_t Sweep();
  size_t size() const { return entries_.size(); }

 private:
  static std::optional<uint64_t> InodeOf(int fd);

  struct Entry {
    int fd;
    uint64_t inode;
  };
  std::vector<Entry> entries_;
};

class Listener {
 public:
  using Handoff = std::function<void(int fd)>;  // takes ownership of the socket

  // Binds and listens on "host:port" (port 0 picks a free one). The error names the address
  // and the reason ("cannot listen on 127.0.0.1:8443: Address already in use").
  static absl::StatusOr<std::unique_ptr<Listener>> Bind(const std::string& address,
                                                        ListenerLimits limits);
  ~Listener();

  int port() const { return port_; }
  const std::string& address() const { return address_; }

  // For a TLS endpoint, before Start(): a connection is handed to gRPC only once its first bytes
  // could start a TLS ClientHello. Plain HTTP gets nginx's 400 ("The plain HTTP request was sent
  // to HTTPS port"), cleartext HTTP/2 (h2c) a GOAWAY saying the port speaks TLS; either is recorded
  // in `log` (listener `name`) with the peer's address — gRPC's own handshake failure would name
  // neither the peer nor the cause. A connection that sends nothing within a second is handed over
  // as before (gRPC's handshake timeout applies).
  void ScreenPlaintext(std::shared_ptr<observe::HandshakeLog> log, std::string name);

  // Starts the accept thread. Call once.
  void Start(Handoff handoff);
  // Stops accepting and closes the listening socket; sockets already handed over are gRPC's.
  // Idempotent.
  void Stop();
  ListenerStats stats() const;

 private:
  Listener(int fd, int wake_fd, std::string address, int port, ListenerLimits limits);
  void Run();
  // One accept4(): 1 when more may be pending, 0 when none is, -1 when the loop must back off.
  int AcceptOne();
  // Accepts and closes one pending connection with the spare descriptor; false if it could not.
  bool Shed();
  // Free descriptors under the soft limit: counted in /proc/self/fd at most every 100 ms, and
  // decremented per handed-over socket in between (a connect flood must not cost a scan each).
  int FreeDescriptors(absl::Time now);
  // ScreenPlaintext: decides on `fd` now if its first bytes are there, else parks it.
  void Screen(int fd, std::string peer, absl::Time now);
  // Peeks at a parked or new connection: true when decided (handed over or refused).
  bool Decide(int fd, const std::string& peer, bool waited_out, absl::Time now);

  const int fd_;
  const int wake_fd_;  // eventfd: Stop() wakes the accept thread
  const std::string address_;
  const int port_;
  const ListenerLimits limits_;
  int spare_fd_ = -1;  // held open so that an EMFILE can still be answered by shedding
  Handoff handoff_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  SocketLedger ledger_;                                // accept thread only
  std::shared_ptr<observe::HandshakeLog> screen_log_;  // set: ScreenPlaintext is on
  std::string screen_name_;
  struct Parked {
    int fd;
    std::string peer;
    absl::Time deadline;
  };
  std::vector<Parked> parked_;  // accept thread only: waiting for their first bytes
  absl::Time last_sweep_ = absl::InfinitePast();
  absl::Time last_warning_ = absl::InfinitePast();
  absl::Time last_fd_count_ = absl::InfinitePast();
  int free_fds_ = 0;

  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> refused_limit_{0};
  std::atomic<uint64_t> refused_fds_{0};
  std::atomic<uint64_t> accept_errors_{0};
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit; returns the soft limit in force.
int RaiseDescriptorLimit();

}  // namespace nodegate::rpc
