"""`nodegate tunnel server|client` end to end: the real binary, certificates from `nodegate pki`, plain
backends (Python's SimpleXMLRPCServer and `nodegate echo` without TLS), loopback only.

Every wait is bounded (poll until a condition holds, fail at a deadline)."""

from __future__ import annotations

import hashlib
import random
import socket
import ssl
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCServer

import pytest

import nodegate_testlib as ng

MIB = 1 << 20


class KeyValueServer:
    """The seed's KeyValueServer, served plain by SimpleXMLRPCServer behind the tunnel."""

    def __init__(self):
        self._data = {}

    def get(self, name):
        return self._data[name]

    def set(self, name, value):
        self._data[name] = value

    def delete(self, name):
        del self._data[name]

    def exists(self, name):
        return name in self._data

    def keys(self):
        return list(self._data)


@pytest.fixture
def procs(tmp_path):
    """Factory: procs(kind, args, name) -> a started ProxyProcess; all are stopped in teardown."""
    started: list[ng.ProxyProcess] = []

    def start(kind: str, args: list, name: str, wait: bool = True) -> ng.ProxyProcess:
        p = ng.ProxyProcess(kind, args, tmp_path / "procs", name)
        started.append(p)
        return p.start(wait)

    yield start
    for p in started:
        try:
            p.stop()
        except AssertionError:
            pass


@pytest.fixture
def certs(pki):
    return {
        "server": pki.issue("server", "server"),
        "alice": pki.issue("alice", "client"),
        "mallory": pki.issue("mallory", "client"),
    }


@pytest.fixture
def echo_backend(procs):
    """`nodegate echo` without TLS: the plain backend for byte-level tests."""
    return procs("echo", ["echo", "--listen", "127.0.0.1:0"], "backend")


@pytest.fixture
def kv_backend():
    server = SimpleXMLRPCServer((ng.HOST, 0), allow_none=True, logRequests=False)
    kv = KeyValueServer()
    for name in ("get", "set", "delete", "exists", "keys"):
        server.register_function(getattr(kv, name), name)
    with ng.ThreadedServer(server) as running:
        yield running


def tls_roundtrip(port: int, ctx: ssl.SSLContext, payload: bytes) -> bytes | None:
    """Sends payload over TLS, half-closes, returns everything read back; None when refused."""
    try:
        with socket.create_connection((ng.HOST, port), timeout=ng.RPC_TIMEOUT_S) as raw:
            with ctx.wrap_socket(raw, server_hostname=ng.HOST) as tls:
                tls.sendall(payload)
                data = tls.recv(len(payload) + 1)
                return data or None
    except (ssl.SSLError, ConnectionError, OSError):
        return None


def plain_roundtrip(port: int, payload: bytes) -> bytes:
    with socket.create_connection((ng.HOST, port), timeout=ng.RPC_TIMEOUT_S) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return ng.recv_until_eof(s)


def plain_refused(port: int, payload: bytes) -> bool:
    """True when the connection is closed (or reset: unread data) without any answer."""
    try:
        return plain_roundtrip(port, payload) == b""
    except ConnectionError:
        return True


def start_pair(procs, pki, certs, backend_address, *server_extra, client_cert="alice", client_extra=()):
    server = procs("tunnel", ng.tunnel_server_args("127.0.0.1:0", backend_address, pki, certs["server"],
                                                   *server_extra), "tunnel-server")
    client = procs("tunnel", ng.tunnel_client_args("127.0.0.1:0", server.address, pki,
                                                   certs[client_cert], *client_extra),
                   f"tunnel-client-{client_cert}")
    return server, client


# --------------------------------------------------------------------------------------------------
# The seed's use: a plain XML-RPC service behind the tunnel


def test_plain_xmlrpc_server_behind_tunnel_is_reached_through_tunnel_client(procs, pki, certs, kv_backend):
    server, client = start_pair(procs, pki, certs, kv_backend.address)
    proxy = xmlrpc.client.ServerProxy(f"http://{client.address}", allow_none=True)

    proxy.set("greeting", "hello")
    proxy.set("answer", 42)
    proxy.set("list", [1, "two", 3.5])
    proxy.set("dict", {"a": 1, "b": [True, None]})

    assert proxy.get("greeting") == "hello"
    assert proxy.get("answer") == 42
    assert proxy.get("list") == [1, "two", 3.5]
    assert proxy.get("dict") == {"a": 1, "b": [True, None]}
    assert sorted(proxy.keys()) == ["answer", "dict", "greeting", "list"]
    assert proxy.exists("answer") is True
    proxy.delete("answer")
    assert proxy.exists("answer") is False
    with pytest.raises(xmlrpc.client.Fault, match="KeyError"):
        proxy.get("answer")

    lines = server.wait_connection_lines(1)
    assert all("cn=alice" in line["identity"] for line in lines), lines
    assert all(line["close"] == "eof" for line in lines), lines
    client_lines = client.wait_connection_lines(1)
    assert all("cn=server" in line["identity"] for line in client_lines), client_lines


@pytest.mark.parametrize("allow", [["--allow-cn", "alice"], ["--allow-node-id", "alice"],
                                   ["--allow-uri", "spiffe://nodegate.local/node/alice"]])
def test_client_certificate_outside_the_allow_list_is_refused(procs, pki, certs, kv_backend, allow):
    server = procs("tunnel", ng.tunnel_server_args("127.0.0.1:0", kv_backend.address, pki,
                                                   certs["server"], *allow), "tunnel-server")
    alice = procs("tunnel", ng.tunnel_client_args("127.0.0.1:0", server.address, pki, certs["alice"]),
                  "client-alice")
    mallory = procs("tunnel", ng.tunnel_client_args("127.0.0.1:0", server.address, pki,
                                                    certs["mallory"]), "client-mallory")

    xmlrpc.client.ServerProxy(f"http://{alice.address}", allow_none=True).set("k", "v")
    with pytest.raises((xmlrpc.client.ProtocolError, ConnectionError, OSError)):
        xmlrpc.client.ServerProxy(f"http://{mallory.address}", allow_none=True).get("k")

    lines = server.wait_connection_lines(2)
    refused = [l for l in lines if "cn=mallory" in l["identity"]]
    assert refused and all(l["close"].startswith("refused: identity not in the allow-list")
                           for l in refused), lines
    assert all(l["up"] == 0 for l in refused), "nothing from a refused client may reach the backend"


def test_client_without_certificate_is_refused_by_default(procs, pki, certs, echo_backend):
    server = procs("tunnel", ng.tunnel_server_args("127.0.0.1:0", echo_backend.address, pki,
                                                   certs["server"]), "tunnel-server")

    assert tls_roundtrip(server.port, ng.tls_client_context(pki.ca), b"ping") is None
    assert tls_roundtrip(server.port, ng.tls_client_context(pki.ca, certs["alice"].cert,
                                                            certs["alice"].key), b"ping") == b"ping"
    lines = server.wait_connection_lines(2)
    assert any(l["close"].startswith("refused: handshake") for l in lines), lines


def test_client_certificate_from_another_ca_is_refused(procs, pki, certs, echo_backend, other_ca):
    stranger = other_ca.issue("alice", "client")
    server = procs("tunnel", ng.tunnel_server_args("127.0.0.1:0", echo_backend.address, pki,
                                                   certs["server"]), "tunnel-server")
    ctx = ng.tls_client_context(pki.ca, stranger.cert, stranger.key)
    assert tls_roundtrip(server.port, ctx, b"ping") is None


def test_tunnel_client_verifies_the_server_name(procs, pki, certs, echo_backend):
    server, good = start_pair(procs, pki, certs, echo_backend.address)
    bad = procs("tunnel", ng.tunnel_client_args("127.0.0.1:0", server.address, pki, certs["alice"],
                                                "--server-name", "not-the-server.example"), "bad")

    assert plain_roundtrip(good.port, b"hello") == b"hello"
    assert plain_refused(bad.port, b"hello")
    line = bad.wait_connection_lines(1)[0]
    assert line["close"].startswith("server handshake"), line


# --------------------------------------------------------------------------------------------------
# Bytes: volume, half-close, concurrency


def test_64_mib_each_way_arrives_intact_with_half_close(procs, pki, certs, echo_backend):
    server, client = start_pair(procs, pki, certs, echo_backend.address)
    payload = random.Random(64).randbytes(64 * MIB)
    sent_digest = hashlib.sha256(payload).hexdigest()
    received = hashlib.sha256()
    count = 0

    start = time.monotonic()
    with socket.create_connection((ng.HOST, client.port), timeout=60) as s:
        def send():
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)  # half-close: the echo answers with its own EOF

        sender = threading.Thread(target=send)
        sender.start()
        while True:
            chunk = s.recv(1 << 18)
            if not chunk:
                break
            received.update(chunk)
            count += len(chunk)
        sender.join(timeout=60)
    elapsed = time.monotonic() - start

    assert count == len(payload)
    assert received.hexdigest() == sent_digest
    ng.record_metric("tunnel_64mib_echo_seconds", elapsed, "s",
                     f"64 MiB each way through tunnel client+server; {64 / elapsed:.0f} MiB/s per direction")
    for proc in (server, client):
        line = proc.wait_connection_lines(1)[0]
        assert (line["up"], line["down"], line["close"]) == (64 * MIB, 64 * MIB, "eof"), line


def test_half_close_reaches_the_backend_and_its_answer_comes_back(procs, pki, certs):
    """The backend answers only after it has seen the client's EOF (like `wc -c`)."""
    import socketserver

    class CountThenClose(socketserver.BaseRequestHandler):
        def handle(self):
            n = len(ng.recv_until_eof(self.request, limit=16 * MIB))
            self.request.sendall(f"got {n}".encode())

    backend = socketserver.ThreadingTCPServer((ng.HOST, 0), CountThenClose)
    backend.daemon_threads = True
    with ng.ThreadedServer(backend) as running:
        _, client = start_pair(procs, pki, certs, running.address)
        assert plain_roundtrip(client.port, b"x" * 100_000) == b"got 100000"


def test_200_concurrent_connections(procs, pki, certs, echo_backend):
    server, client = start_pair(procs, pki, certs, echo_backend.address)
    n = 200
    start = time.monotonic()
    socks = [socket.create_connection((ng.HOST, client.port), timeout=30) for _ in range(n)]
    try:
        for i, s in enumerate(socks):
            s.sendall(f"conn {i:03d}\n".encode())
        for i, s in enumerate(socks):  # every one is open end to end at the same time
            assert ng.recv_exactly(s, 9) == f"conn {i:03d}\n".encode()
        established = time.monotonic() - start
    finally:
        for s in socks:
            s.close()
    ng.record_metric("tunnel_200_connections_seconds", established, "s",
                     "200 concurrent connections opened and round-tripped through tunnel client+server")
    lines = server.wait_connection_lines(n, timeout=30)
    assert len({l["conn"] for l in lines}) == n
    assert all("cn=alice" in l["identity"] for l in lines)


# --------------------------------------------------------------------------------------------------
# Certificate rotation, limits, timeouts, shutdown


def test_certificate_rotation_under_traffic_drops_no_open_connection(procs, pki, certs, echo_backend,
                                                                     tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    served = ng.Issued(live / "server.pem", live / "server-key.pem")
    ng.install_pair(certs["server"], served.cert, served.key)
    server, client = start_pair(procs, pki, {**certs, "server": served}, echo_backend.address,
                                "--reload-interval", "200ms")
    alice = ng.tls_client_context(pki.ca, certs["alice"].cert, certs["alice"].key)

    def served_serial() -> int:
        return ng.served_certificate(server.port, pki.ca, certs["alice"].cert,
                                     certs["alice"].key).serial_number

    assert served_serial() == certs["server"].serial
    stop = threading.Event()
    errors: list[BaseException] = []
    rounds = [0] * 4
    rotated_at = [0] * 4
    rotated = threading.Event()
    socks = [socket.create_connection((ng.HOST, client.port), timeout=10) for _ in rounds]

    def stream(i: int):
        rng = random.Random(i)
        try:
            while not stop.is_set():
                block = rng.randbytes(16384)
                socks[i].sendall(block)
                assert ng.recv_exactly(socks[i], len(block)) == block
                rounds[i] += 1
                if rotated.is_set() and rotated_at[i] == 0:
                    rotated_at[i] = rounds[i]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(socks))]
    for t in threads:
        t.start()
    try:
        ng.wait_until(lambda: all(r > 10 for r in rounds), 10, "traffic on every connection")
        new = pki.issue("server-2", "server")
        ng.install_pair(new, served.cert, served.key)
        ng.wait_until(lambda: served_serial() == new.serial, 10, "the new certificate on new connections")
        rotated.set()
        # A broken pair (key of another certificate) is refused; the new one keeps serving.
        ng.replace_atomically(pki.issue("server-3", "server").key, served.key)
        ng.wait_until(lambda: "new TLS files refused" in server.stderr(), 10, "the refusal")
        assert served_serial() == new.serial
        ng.wait_until(lambda: all(a and r > a + 10 for a, r in zip(rotated_at, rounds)), 10,
                      "traffic after the rotation on every old connection")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert not errors, errors
    assert plain_roundtrip(client.port, b"after rotation") == b"after rotation"
    for s in socks:
        s.shutdown(socket.SHUT_WR)
        assert ng.recv_until_eof(s) == b""
        s.close()
    # Wait for the streams' own lines: how many probe connections (served_serial) also logged one
    # depends on how often the waits above polled, so a line count alone can come too early.
    def stream_lines():
        found = [l for l in server.connection_lines() if l["up"] >= 16384 * 10]
        return found if len(found) >= len(socks) else None

    streams = ng.wait_until(stream_lines, ng.RPC_TIMEOUT_S * 2, "a log line for every stream")
    lines = server.connection_lines()
    assert len(streams) == len(socks) and all(l["close"] == "eof" for l in streams), lines
    assert "TLS files reloaded" in server.stderr()


def test_connection_limit_closes_connections_over_it(procs, pki, certs, echo_backend):
    server = procs("tunnel", ng.tunnel_server_args("127.0.0.1:0", echo_backend.address, pki,
                                                   certs["server"], "--max-connections", "2"),
                   "tunnel-server")
    ctx = ng.tls_client_context(pki.ca, certs["alice"].cert, certs["alice"].key)
    held = []
    try:
        for _ in range(2):
            raw = socket.create_connection((ng.HOST, server.port), timeout=ng.RPC_TIMEOUT_S)
            tls = ctx.wrap_socket(raw, server_hostname=ng.HOST)
            tls.sendall(b"x")
            assert tls.recv(1) == b"x"
            held.append(tls)
        assert tls_roundtrip(server.port, ctx, b"third") is None
        lines = server.wait_connection_lines(1)
        assert "connection limit" in lines[0]["close"], lines
    finally:
        for s in held:
            s.close()
    ng.wait_until(lambda: len(server.connection_lines()) >= 3, 10, "the held connections to close")
    assert tls_roundtrip(server.port, ctx, b"again") == b"again"


def test_idle_connection_is_closed(procs, pki, certs, echo_backend):
    _, client = start_pair(procs, pki, certs, echo_backend.address, "--idle-timeout", "1s")
    with socket.create_connection((ng.HOST, client.port), timeout=10) as s:
        s.sendall(b"hi")
        assert ng.recv_exactly(s, 2) == b"hi"
        start = time.monotonic()
        assert ng.recv_until_eof(s) == b""  # closed by the server tunnel's idle timer
        assert 0.5 < time.monotonic() - start < 8


def test_sigterm_closes_open_connections_and_exits_zero(procs, pki, certs, echo_backend):
    server, client = start_pair(procs, pki, certs, echo_backend.address)
    with socket.create_connection((ng.HOST, client.port), timeout=10) as s:
        s.sendall(b"hi")
        assert ng.recv_exactly(s, 2) == b"hi"
        assert server.stop() == 0
        assert ng.recv_until_eof(s) == b""
    assert server.connection_lines()[0]["close"] == "shutdown"
    assert "stopped" in server.stderr()


def test_bad_flags_fail_with_the_field_named(pki, certs):
    out = ng.run_nodegate("tunnel", "server", "--listen", "127.0.0.1:0", "--target", "nowhere",
                          "--cert", certs["server"].cert, "--key", certs["server"].key, "--ca", pki.ca,
                          "--allow-all", check=False)
    assert out.returncode != 0 and "target" in out.stderr
    out = ng.run_nodegate("tunnel", "client", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:1",
                          "--cert", certs["alice"].cert, "--key", certs["server"].key, "--ca", pki.ca,
                          check=False)
    assert out.returncode != 0 and "tls.key" in out.stderr, out.stderr


# --------------------------------------------------------------------------------------------------
# [[tunnel]] in `nodegate serve`


def test_tunnel_section_of_serve(tmp_path, pki, certs, start_node, echo_backend):
    import re

    config = ng.node_config(tmp_path, cert=certs["server"].cert, key=certs["server"].key, ca=pki.ca)
    config.write_text(config.read_text() + f"""
[[tunnel]]
name = "e2e"
mode = "server"
listen = "127.0.0.1:0"
target = "{echo_backend.address}"
allow_cn = ["alice"]
""")
    daemon = start_node(config)
    m = ng.wait_until(lambda: re.search(r"listening tunnel\[e2e\] server=127\.0\.0\.1:(\d+)",
                                        daemon.stderr()), 10, "the tunnel's listening line")
    port = int(m.group(1))
    alice = ng.tls_client_context(pki.ca, certs["alice"].cert, certs["alice"].key)
    mallory = ng.tls_client_context(pki.ca, certs["mallory"].cert, certs["mallory"].key)
    assert tls_roundtrip(port, alice, b"via serve") == b"via serve"
    assert tls_roundtrip(port, mallory, b"via serve") is None


def test_tunnel_section_rejects_an_empty_allow_list(tmp_path, pki, certs):
    config = ng.node_config(tmp_path, cert=certs["server"].cert, key=certs["server"].key, ca=pki.ca)
    config.write_text(config.read_text() + """
[[tunnel]]
mode = "server"
listen = "127.0.0.1:0"
target = "127.0.0.1:9"
allow_cn = []
""")
    result = ng.run_to_exit(config, tmp_path)
    assert result.returncode != 0
    assert "tunnel[0].allow_cn: an empty list is not allowed" in result.stderr, result.stderr
