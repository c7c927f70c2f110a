"""Connection-level attacks without any credentials (issue 12, items 2, 4 and 6): running the node out
of file descriptors, holding many idle sockets, trickling request headers (slowloris), and a second
process binding the node's ports. A peer that knows nothing must cost a bounded amount and never
leave a half-dead node behind."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import grpc
import pytest

import nodegate_testlib as ng
from faultlib import (FaultNode, close_all, https_request, nofile_limit, open_fds, open_idle_sockets,
                      raise_own_nofile, tail)


# --------------------------------------------------------------------------------------------------
# File descriptors


DAEMON_NOFILE = 256
EXCESS_CONNECTIONS = 400  # well past DAEMON_NOFILE
RECOVERY_S = 10.0


@pytest.mark.parametrize("through", ["grpc-port", "every-port"])
def test_fd_exhaustion_leaves_a_node_that_serves_again_or_exits_non_zero(tmp_path, pki, start_node,
                                                                          stubs, through):
    """The 1.51 listener stopped accepting for good after EMFILE while the process stayed up. Fixed:
    once the hostile connections are gone, either a real call succeeds again, or the process has
    exited non-zero (so systemd restarts it). Up but not accepting is the one wrong answer."""
    raise_own_nofile(EXCESS_CONNECTIONS)
    node = FaultNode(tmp_path, pki, start_node, stubs, preexec_fn=nofile_limit(DAEMON_NOFILE))
    node.assert_still_serving(f"start-up with RLIMIT_NOFILE={DAEMON_NOFILE}")

    if through == "grpc-port":
        hostile = open_idle_sockets(node.daemon.port, EXCESS_CONNECTIONS)
    else:  # the fd table is the process's: the console and XML-RPC ports can empty it for gRPC
        share = EXCESS_CONNECTIONS // 3
        hostile = [s for port in (node.http_port, node.xmlrpc_port, node.daemon.port)
                   for s in open_idle_sockets(port, share)]
    try:
        # Let the listener take what it can, so that accept() reaches EMFILE while they are open.
        ng.wait_until(lambda: not node.daemon.running()
                      or open_fds(node.daemon.pid) >= DAEMON_NOFILE - 8,
                      5, "the daemon to run into its fd limit", interval=0.1)
        time.sleep(1.0)
    except ng.DeadlineExceeded:
        pass  # a node with a connection cap below the fd limit never gets there: also fine
    finally:
        close_all(hostile)

    def recovered():
        if not node.daemon.running():
            return ("exited", node.daemon.exit_code())
        try:
            node.roll_die(timeout=2)
            return ("serving", 0)
        except grpc.RpcError:
            return None

    try:
        outcome, code = ng.wait_until(recovered, RECOVERY_S, "a RollDie to succeed or the process "
                                      "to exit after the hostile connections were closed", interval=0.2)
    except ng.DeadlineExceeded as exc:
        raise AssertionError(f"{exc}: the node is up (fds open: {open_fds(node.daemon.pid)}) but does"
                             f" not serve — a half-dead node.\nstderr tail:\n"
                             f"{tail(node.daemon.stderr())}") from None
    ng.record_metric("fault_fd_exhaustion_outcome", code, "", f"{outcome} ({len(hostile)} sockets, "
                     f"RLIMIT_NOFILE={DAEMON_NOFILE})")
    if outcome == "exited":
        assert code != 0, "the node exited 0 after fd exhaustion: systemd would not restart it"
    else:
        node.assert_still_serving(f"{len(hostile)} connections against RLIMIT_NOFILE={DAEMON_NOFILE}")


# --------------------------------------------------------------------------------------------------
# Idle sockets and slowloris


IDLE_SOCKETS = 500
PROMPT_S = 3.0


@pytest.fixture
def node(tmp_path, pki, start_node, stubs) -> FaultNode:
    return FaultNode(tmp_path, pki, start_node, stubs)


def timed(fn) -> tuple[float, object]:
    started = time.monotonic()
    result = fn()
    return time.monotonic() - started, result


def test_500_idle_sockets_on_console_and_xmlrpc_ports_do_not_stall_real_requests(node):
    raise_own_nofile(2 * IDLE_SOCKETS)
    idle = []
    try:
        idle += open_idle_sockets(node.http_port, IDLE_SOCKETS)
        idle += open_idle_sockets(node.xmlrpc_port, IDLE_SOCKETS)

        console_s, console = timed(lambda: _answer_or_error(
            lambda: https_request(node.pki.ca, node.http_port, "GET", "/healthz",
                                  timeout=PROMPT_S)))
        xmlrpc_s, xmlrpc = timed(lambda: _answer_or_error(
            lambda: https_request(node.pki.ca, node.xmlrpc_port, "POST", "/RPC2",
                                  body=b"<methodCall><methodName>keys</methodName><params/>"
                                       b"</methodCall>",
                                  headers={"Content-Type": "text/xml"}, cert=node.client,
                                  timeout=PROMPT_S)))
    finally:
        close_all(idle)
    ng.record_metric("fault_idle_sockets_console_answer", console_s, "s",
                     f"{len(idle)} idle sockets open")
    ng.record_metric("fault_idle_sockets_xmlrpc_answer", xmlrpc_s, "s")
    summary = (f"with {len(idle)} idle sockets open: console /healthz -> {_short(console)} after "
               f"{console_s:.1f} s; XML-RPC keys() -> {_short(xmlrpc)} after {xmlrpc_s:.1f} s")
    assert isinstance(console, tuple) and console[0] == 200, summary
    assert isinstance(xmlrpc, tuple) and xmlrpc[0] == 200, summary
    node.assert_still_serving(f"{len(idle)} idle sockets")


def _short(answer) -> str:
    return f"HTTP {answer[0]}" if isinstance(answer, tuple) else repr(answer)


def _answer_or_error(fn):
    try:
        return fn()
    except (OSError, ssl.SSLError, Exception) as exc:  # noqa: BLE001 - reported in the assertion
        return exc


SLOW_CONNECTIONS = 12          # more than cpp-httplib's 8 pool threads
HEADER_EVERY_S = 1.0
SLOW_CLOSE_BOUND_S = 30.0       # every slow connection must be closed by the server by then


class SlowHeaders:
    """SLOW_CONNECTIONS clients on their own threads (no client certificate): each connects, shakes
    hands, sends a request line, then one more header line every second, never finishing the
    request, until the server closes the connection or SLOW_CLOSE_BOUND_S has passed.
    `closed_at[i]`: seconds after the start when the server closed connection i (None: still open
    at the bound); a handshake the server never completed is counted in `stalled_handshakes`."""

    def __init__(self, ca, port: int):
        self.ctx = ng.tls_client_context(ca)
        self.port = port
        self.closed_at: list[float | None] = [None] * SLOW_CONNECTIONS
        self.stalled_handshakes = 0
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                        for i in range(SLOW_CONNECTIONS)]

    def __enter__(self) -> "SlowHeaders":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)

    def wait(self) -> None:
        for t in self.threads:
            t.join(timeout=SLOW_CLOSE_BOUND_S + 10)

    def still_open(self) -> int:
        return sum(1 for t in self.closed_at if t is None) - self.stalled_handshakes

    def _client(self, i: int) -> None:
        try:
            raw = socket.create_connection((ng.HOST, self.port), timeout=5)
            conn = self.ctx.wrap_socket(raw, server_hostname=ng.HOST)
        except (OSError, ssl.SSLError):
            # The server did not even finish the handshake: the other slow connections hold what
            # it needs for one (a worker thread).
            with self.lock:
                self.stalled_handshakes += 1
            return
        with conn:
            try:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                line = 0
                while not self.stop.is_set() and time.monotonic() - self.started < SLOW_CLOSE_BOUND_S:
                    if self._server_closed(conn):
                        break
                    line += 1
                    conn.settimeout(2)
                    conn.sendall(f"X-Slow-{line}: {'a' * 16}\r\n".encode())
                else:
                    return  # still open at the bound
            except (OSError, ssl.SSLError):
                pass  # reset by the server
            self.closed_at[i] = time.monotonic() - self.started

    @staticmethod
    def _server_closed(conn: ssl.SSLSocket) -> bool:
        """Waits up to HEADER_EVERY_S for the server to close (EOF, possibly after a 408)."""
        conn.settimeout(HEADER_EVERY_S)
        try:
            while True:
                if not conn.recv(4096):
                    return True
        except (socket.timeout, ssl.SSLWantReadError):
            return False  # nothing, or a TLS record without data (a session ticket): still open


def test_slow_header_connections_do_not_stall_real_requests_and_are_closed_by_the_server(node):
    with SlowHeaders(node.pki.ca, node.http_port) as slow:
        time.sleep(2 * HEADER_EVERY_S)  # they hold whatever a connection holds on the server
        answer_s, answer = timed(lambda: _answer_or_error(
            lambda: https_request(node.pki.ca, node.http_port, "GET", "/healthz",
                                  timeout=PROMPT_S)))
        slow.wait()  # every client stops by itself: closed by the server, or at the bound
    still_open = slow.still_open()
    close_times = [t for t in slow.closed_at if t is not None]
    ng.record_metric("fault_slowloris_real_request", answer_s, "s",
                     f"{SLOW_CONNECTIONS} slow-header connections open")
    if close_times:
        ng.record_metric("fault_slowloris_closed_after", max(close_times), "s")
    summary = (f"/healthz beside {SLOW_CONNECTIONS} slow-header connections: {answer!r} after "
               f"{answer_s:.1f} s; {slow.stalled_handshakes} handshakes stalled; {still_open} slow "
               f"connections still open after {SLOW_CLOSE_BOUND_S:.0f} s (closed at: "
               f"{sorted(round(t, 1) for t in close_times)})")
    assert isinstance(answer, tuple) and answer[0] == 200 and answer_s < PROMPT_S, summary
    assert slow.stalled_handshakes == 0, summary
    assert still_open == 0, summary + ": there is no header deadline"
    node.assert_still_serving("slow-header connections")


# --------------------------------------------------------------------------------------------------
# Port sharing


SECOND_START_BOUND_S = 10.0


@pytest.mark.parametrize("listener", ["grpc", "http", "xmlrpc"])
def test_second_serve_on_a_taken_address_exits_non_zero_naming_it(tmp_path, node, listener):
    """gRPC (and the HTTP listeners) set SO_REUSEPORT: a second daemon on the same address started
    and the kernel split connections between the two. Fixed: the second one refuses to start with
    `<listener>.listen: cannot listen on <address>` (docs/config.md), and the first is unaffected."""
    taken = {"grpc": node.daemon.port, "http": node.http_port, "xmlrpc": node.xmlrpc_port}[listener]
    address = f"{ng.HOST}:{taken}"
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    tables = {"http": {"listen": "127.0.0.1:0", "client_cert": str(node.client.cert),
                       "client_key": str(node.client.key)},
              "xmlrpc": {"listen": "127.0.0.1:0"}}
    tables[listener] = {**tables.get(listener, {}), "listen": address}
    config = ng.node_config(second_dir, cert=node.server.cert, key=node.server.key, ca=node.pki.ca,
                            extra=tables)

    try:
        second = ng.run_to_exit(config, second_dir, timeout=SECOND_START_BOUND_S)
    except AssertionError:
        raise AssertionError(f"a second `nodegate serve` with {listener}.listen = {address} (already "
                             f"served by the first) kept running for {SECOND_START_BOUND_S:.0f} s "
                             f"instead of exiting") from None

    assert second.returncode != 0
    assert "cannot listen on" in second.stderr and address in second.stderr, second.stderr
    for _ in range(10):  # fresh connections: none may land on a second process
        node.assert_still_serving(f"a second daemon tried {address}")
