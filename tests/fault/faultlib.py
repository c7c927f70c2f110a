"""Helpers for the fault suite (issue 12: hostile input cannot crash, stall or exhaust
a node).

Every test starts the real `nodegate serve` on loopback with real certificates made by
`nodegate pki`, attacks it over real sockets, and then asks the same three questions: is the process
still alive, does a real mTLS gRPC RollDie still answer, does the console's /healthz still answer.
Every socket and subprocess has a timeout; every load loop is bounded in count and in time and stops
by itself; a watchdog kills a daemon whose CPU or memory runs away, so an attack that succeeds can
fail its test but never take the machine down with it.
"""

from __future__ import annotations

import http.client
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also works without tests/conftest.py

import nodegate_testlib as ng  # noqa: E402

HTTP_LISTENING_RE = re.compile(r"listening http=127\.0\.0\.1:(\d+)")
ROLL_DIE = "/api.DiceService/RollDie"
HEALTHZ_TIMEOUT_S = 5.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------------
# The daemon


class FaultDaemon(ng.Daemon):
    """A Daemon that may be started with a `preexec_fn` (e.g. a lower RLIMIT_NOFILE)."""

    def __init__(self, config: Path, workdir: Path, preexec_fn: Optional[Callable[[], None]] = None):
        super().__init__(config, workdir)
        self.preexec_fn = preexec_fn

    def start(self) -> "FaultDaemon":
        self.apply_test_engine()  # the h2.fault.* suites: without it they ran engine grpc
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([str(ng.NODEGATE_BIN), "serve", "--config", str(self.config)],
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir, preexec_fn=self.preexec_fn)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exit_code(self) -> Optional[int]:
        return self.proc.poll()


# --------------------------------------------------------------------------------------------------
# A node with gRPC, the HTTPS console and XML-RPC on


class FaultNode:
    """A running node (mTLS gRPC, [http] console, [xmlrpc]) and the clients to check it still works.

    `auth_toml` is appended to the config (e.g. [[auth.rule]] tables); `tokens` are created with
    `nodegate token create` before the daemon starts, so its credential cache has them."""

    def __init__(self, tmp_path: Path, pki: ng.Pki, start_node, stubs: ng.Stubs, *,
                 extra: Optional[dict] = None, auth_toml: str = "", tokens: tuple[str, ...] = (),
                 preexec_fn=None, directory: Optional[Path] = None):
        self.pki = pki
        self.stubs = stubs
        self.dir = Path(directory or tmp_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.server = pki.issue("server", "server") if not (pki.dir / "server.pem").exists() \
            else ng.Issued(pki.dir / "server.pem", pki.dir / "server-key.pem")
        self.client = pki.issue("dev-client", "client") if not (pki.dir / "dev-client.pem").exists() \
            else ng.Issued(pki.dir / "dev-client.pem", pki.dir / "dev-client-key.pem")
        tables = {"http": {"listen": "127.0.0.1:0", "client_auth": "request",
                           "client_cert": str(self.client.cert), "client_key": str(self.client.key)},
                  "xmlrpc": {"listen": "127.0.0.1:0"}}
        for table, values in (extra or {}).items():
            tables.setdefault(table, {}).update(values)
        self.config = ng.node_config(self.dir, cert=self.server.cert, key=self.server.key,
                                     ca=pki.ca, extra=tables)  # merged into node_config's tables
        if auth_toml:
            self.config.write_text(self.config.read_text() + "\n" + auth_toml)
        self.tokens = {name: ng.create_token(self.config, name, "") for name in tokens}
        self.daemon: FaultDaemon = start_node(self.config, preexec_fn=preexec_fn)
        self._wait_http_ports()

    def _wait_http_ports(self) -> None:
        self.http_port = int(ng.wait_until(lambda: HTTP_LISTENING_RE.search(self.daemon.stderr()),
                                           ng.START_TIMEOUT_S, "the 'listening http=' line").group(1))
        self.xmlrpc_port = int(ng.wait_until(
            lambda: ng.XMLRPC_LISTENING_RE.search(self.daemon.stderr()), ng.START_TIMEOUT_S,
            "the 'listening xmlrpc=' line").group(1))

    def restart(self, start_node) -> None:
        """SIGTERM, wait for exit 0, start a new daemon on the same config and data dir."""
        self.daemon.signal(signal.SIGTERM)
        assert self.daemon.wait_exit() == 0, tail(self.daemon.stderr())
        self.daemon = start_node(self.config, preexec_fn=self.daemon.preexec_fn)
        self._wait_http_ports()

    @property
    def address(self) -> str:
        return self.daemon.address

    def client_creds(self):
        return ng.channel_credentials(self.pki.ca, self.client.cert, self.client.key)

    # -- is it still a node? --

    def roll_die(self, metadata=(), timeout: float = ng.RPC_TIMEOUT_S) -> int:
        """One mTLS RollDie on a fresh connection."""
        with ng.fresh_channel(self.address, self.client_creds()) as channel:
            stub = self.stubs.dice_pb2_grpc.DiceServiceStub(channel)
            return stub.RollDie(self.stubs.dice_pb2.RollDieRequest(), metadata=metadata,
                                timeout=timeout).value

    def healthz(self, timeout: float = HEALTHZ_TIMEOUT_S) -> int:
        """GET /healthz over a fresh TLS connection; the HTTP status."""
        return https_request(self.pki.ca, self.http_port, "GET", "/healthz", timeout=timeout)[0]

    def assert_still_serving(self, what: str, metadata=()) -> None:
        """The node survived `what`: the process is up, gRPC and the console answer."""
        assert self.daemon.running(), (
            f"the node died after {what}: exit code {self.daemon.exit_code()} "
            f"(negative = killed by signal {-(self.daemon.exit_code() or 0)});\n"
            f"stderr tail:\n{tail(self.daemon.stderr())}")
        try:
            value = self.roll_die(metadata=metadata)
        except grpc.RpcError as err:
            raise AssertionError(f"gRPC RollDie failed after {what}: {err.code()} {err.details()}"
                                 f" (process alive: {self.daemon.running()})") from None
        assert 1 <= value <= 6
        try:
            status = self.healthz()
        except (OSError, http.client.HTTPException) as exc:
            raise AssertionError(f"console /healthz did not answer after {what}: {exc!r}") from None
        assert status == 200, f"console /healthz answered {status} after {what}"


def settle(daemon: FaultDaemon, timeout: float = 2.0) -> None:
    """After a dropped connection: gives a crashing process the moment it needs to finish dying, so
    that 'alive' and the exit code in a failure message are exact."""
    try:
        daemon.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------
# HTTPS and XML-RPC clients with hard timeouts


def https_request(ca: Path, port: int, method: str, path: str, *, body: Optional[bytes] = None,
                  headers: Optional[dict] = None, cert: Optional[ng.Issued] = None,
                  timeout: float = 10.0) -> tuple[int, bytes]:
    ctx = ng.tls_client_context(ca, cert.cert if cert else None, cert.key if cert else None)
    conn = http.client.HTTPSConnection(ng.HOST, port, context=ctx, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def xmlrpc_post(node: FaultNode, body: bytes, timeout: float = 20.0) -> tuple[int, bytes]:
    """POST a raw body to /RPC2 with the node's client certificate."""
    return https_request(node.pki.ca, node.xmlrpc_port, "POST", "/RPC2", body=body,
                         headers={"Content-Type": "text/xml"}, cert=node.client, timeout=timeout)


def is_error_answer(status: int, body: bytes) -> bool:
    """An XML-RPC fault (HTTP 200 with <fault>) or an HTTP 4xx."""
    return (status == 200 and b"<fault>" in body) or 400 <= status < 500


# --------------------------------------------------------------------------------------------------
# The daemon's resource use, from /proc


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{key} not in /proc/{pid}/status")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Watchdog:
    """Kills the daemon if it runs away (RSS or CPU over a bound) so that a successful attack fails
    its test instead of exhausting the machine; `tripped` says what happened."""

    def __init__(self, daemon: FaultDaemon, max_rss_mib: int = 1024, max_cpu_s: float = 60.0):
        self.daemon = daemon
        self.max_rss_kib = max_rss_mib * 1024
        self.max_cpu_s = max_cpu_s
        self.tripped = ""
        self._stop = threading.Event()
        self._cpu0 = cpu_seconds(daemon.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                rss = status_kib(self.daemon.pid, "VmRSS")
                cpu = cpu_seconds(self.daemon.pid) - self._cpu0
            except (OSError, AssertionError, IndexError):
                return  # gone
            if rss > self.max_rss_kib or cpu > self.max_cpu_s:
                self.tripped = f"watchdog killed the daemon: RSS {rss // 1024} MiB, CPU {cpu:.1f} s"
                self.daemon.proc.kill()
                return


# --------------------------------------------------------------------------------------------------
# Raw sockets


def raise_own_nofile(needed: int) -> None:
    """Makes room for `needed` sockets in this (the test) process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed + 64:
        target = min(hard, needed + 1024) if hard != resource.RLIM_INFINITY else needed + 1024
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed + 64:
        pytest.skip(f"the test process cannot open {needed} sockets (RLIMIT_NOFILE {soft})")


def open_idle_sockets(port: int, count: int, bound_s: float = 5.0) -> list[socket.socket]:
    """`count` TCP connections that never send a byte, connected in parallel (non-blocking) so that
    a full accept backlog costs one SYN retry, not one per socket. Returns the connections that were
    established within `bound_s`; the others are closed (a server may refuse; callers decide)."""
    pending = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((ng.HOST, port))
        pending.append(s)
    established = []
    deadline = time.monotonic() + bound_s
    poller = select.poll()
    by_fd = {s.fileno(): s for s in pending}
    for fd in by_fd:
        poller.register(fd, select.POLLOUT)
    while by_fd and time.monotonic() < deadline:
        for fd, _ in poller.poll(100):
            s = by_fd.pop(fd)
            poller.unregister(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                established.append(s)
            else:
                s.close()
    for s in by_fd.values():
        s.close()
    return established


def close_all(socks) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def nofile_limit(n: int) -> Callable[[], None]:
    """A preexec_fn that lowers RLIMIT_NOFILE (soft and hard) in the daemon only."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return apply


def terminate(daemon: FaultDaemon) -> None:
    if daemon.running():
        daemon.signal(signal.SIGTERM)
