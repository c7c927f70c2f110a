"""HTTP/2 attacks on engine h2 (issue 16): rapid reset (CVE-2023-44487), CONTINUATION floods
(CVE-2024-28182), PING and SETTINGS floods, a closed flow-control window, header lists over the
limit, and a header block that never ends. Each runs over a real mTLS connection (ALPN h2) to the
real daemon with `[grpc] engine = "h2"`, with raw frames from python3-h2 or written by hand, and
ends with the fault suite's question: does the node still serve? TLS session resumption across a
CRL reload is checked on both engines, with the same raw client."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hpack
import pytest

import nodegate_testlib as ng
from faultlib import ROLL_DIE, FaultNode, settle, status_kib, tail

EMPTY_REQUEST = b"\x00\x00\x00\x00\x00"  # RollDieRequest{}, framed
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_node(tmp_path, pki, start_node, stubs, **grpc_settings) -> FaultNode:
    return FaultNode(tmp_path, pki, start_node, stubs,
                     extra={"grpc": {"engine": "h2", **grpc_settings}})


def client_context(node: FaultNode, alpn=("h2",), client: ng.Issued | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(node.pki.ca))
    ctx.check_hostname = False  # the address is 127.0.0.1; the chain is still verified
    client = client or node.client
    ctx.load_cert_chain(str(client.cert), str(client.key))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_socket(node: FaultNode, alpn=("h2",), timeout: float = 5.0, ctx=None,
               session=None) -> ssl.SSLSocket:
    """A new mTLS connection; `ctx` and `session` to resume an earlier one."""
    ctx = ctx or client_context(node, alpn)
    raw = socket.create_connection((ng.HOST, node.daemon.port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost", session=session)


def request_headers(path: str = ROLL_DIE, extra=()) -> list[tuple[str, str]]:
    return [(":method", "POST"), (":scheme", "https"), (":path", path),
            (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers"),
            *extra]


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


class RawClient:
    """python3-h2's client state machine over one TLS socket."""

    def __init__(self, sock: ssl.SSLSocket, settings: dict | None = None):
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                          header_encoding="utf-8"))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def events_until(self, done, timeout: float) -> tuple[list, bool]:
        """Reads events until done(events) or the server closes; (events, closed)."""
        events: list = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, ssl.SSLError, OSError):
                return events, True
            if not data:
                return events, True
            try:
                events += self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                return events, True
            self.flush()
            if done(events):
                break
        return events, False


def trailers_of(events, stream_id: int) -> dict[str, str]:
    for e in events:
        if isinstance(e, (h2.events.TrailersReceived, h2.events.ResponseReceived)) and \
                e.stream_id == stream_id:
            headers = dict(e.headers)
            if "grpc-status" in headers:
                return headers
    return {}


def closed_by_server(events, closed: bool) -> bool:
    return closed or any(isinstance(e, h2.events.ConnectionTerminated) for e in events)


def test_a_raw_call_gets_its_message_and_status_trailers(tmp_path, pki, start_node, stubs):
    node = h2_node(tmp_path, pki, start_node, stubs)
    with tls_socket(node) as sock:
        assert sock.selected_alpn_protocol() == "h2"
        c = RawClient(sock)
        c.conn.send_headers(1, request_headers())
        c.conn.send_data(1, EMPTY_REQUEST, end_stream=True)
        c.flush()
        events, _ = c.events_until(lambda ev: trailers_of(ev, 1), 5)
    data = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    assert data[:1] == b"\x00" and struct.unpack(">I", data[1:5])[0] == len(data) - 5
    assert trailers_of(events, 1).get("grpc-status") == "0"


def test_a_client_without_alpn_h2_is_refused(tmp_path, pki, start_node, stubs):
    node = h2_node(tmp_path, pki, start_node, stubs)
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        with tls_socket(node, alpn=("http/1.1",)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            if not sock.recv(100):
                raise ConnectionResetError("closed")
    node.assert_still_serving("a TLS client offering http/1.1 only")


def test_rapid_reset_ends_the_connection_and_costs_little(tmp_path, pki, start_node, stubs):
    node = h2_node(tmp_path, pki, start_node, stubs)
    cpu_before = ng_cpu(node)
    with tls_socket(node) as sock:
        c = RawClient(sock)
        closed = False
        events: list = []
        stream = 1
        for _ in range(60):  # up to 6,000 streams opened and reset at once, in batches of 100
            try:
                for _ in range(100):
                    c.conn.send_headers(stream, request_headers())
                    c.conn.reset_stream(stream)
                    stream += 2
                c.flush()
            except (OSError, h2.exceptions.ProtocolError):
                closed = True
                break
            got, closed = c.events_until(lambda ev: False, 0.01)
            events += got
            if closed_by_server(events, closed):
                break
        if not closed_by_server(events, closed):
            got, closed = c.events_until(lambda ev: closed_by_server(ev, False), 5)
            events += got
    assert closed_by_server(events, closed), f"{stream // 2} streams reset and the connection stays"
    settle(node.daemon)
    node.assert_still_serving("a rapid-reset connection")
    assert ng_cpu(node) - cpu_before < 5.0


def ng_cpu(node: FaultNode) -> float:
    from faultlib import cpu_seconds
    return cpu_seconds(node.daemon.pid)


def hpack_literal(name: bytes, value: bytes) -> bytes:
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def test_a_continuation_flood_is_cut_off(tmp_path, pki, start_node, stubs):
    node = h2_node(tmp_path, pki, start_node, stubs)
    rss_before = status_kib(node.daemon.pid, "VmRSS")
    block = hpack.Encoder().encode(request_headers())
    closed = False
    with tls_socket(node) as sock:
        sock.sendall(PREFACE + frame(4, 0, 0))
        sock.sendall(frame(1, 0, 1, block))  # HEADERS without END_HEADERS
        piece = frame(9, 0, 1, hpack_literal(b"x-flood", b"a" * 100))
        try:
            for _ in range(200):  # up to 20,000 CONTINUATION frames
                sock.sendall(piece * 100)
        except OSError:
            closed = True
        if not closed:
            sock.settimeout(5)
            try:
                while sock.recv(65536):
                    pass
                closed = True
            except socket.timeout:
                pass
            except OSError:
                closed = True
    assert closed, "20,000 CONTINUATION frames and the connection is still open"
    settle(node.daemon)
    node.assert_still_serving("a CONTINUATION flood")
    assert status_kib(node.daemon.pid, "VmRSS") - rss_before < 64 * 1024


@pytest.mark.parametrize("kind", ["ping", "settings"])
def test_a_flood_of_frames_to_acknowledge_from_a_peer_that_reads_nothing(tmp_path, pki, start_node,
                                                                         stubs, kind):
    node = h2_node(tmp_path, pki, start_node, stubs, stall_timeout="2s")
    one = frame(6, 0, 0, b"12345678") if kind == "ping" else frame(4, 0, 0)
    rss_before = status_kib(node.daemon.pid, "VmRSS")
    closed = False
    with tls_socket(node) as sock:
        sock.sendall(PREFACE + frame(4, 0, 0))
        sock.settimeout(10)
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:  # never reads: every ACK piles up on the server
                sock.sendall(one * 1000)
        except OSError:
            closed = True
    assert closed, f"{kind} frames for 20 s and the server never gave up on the connection"
    settle(node.daemon)
    node.assert_still_serving(f"a {kind} flood")
    assert status_kib(node.daemon.pid, "VmRSS") - rss_before < 64 * 1024


def test_a_zero_window_peer_is_closed_after_the_stall_timeout(tmp_path, pki, start_node, stubs):
    node = h2_node(tmp_path, pki, start_node, stubs, stall_timeout="2s")
    with tls_socket(node) as sock:
        c = RawClient(sock, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        c.conn.send_headers(1, request_headers())
        c.conn.send_data(1, EMPTY_REQUEST, end_stream=True)
        c.flush()
        started = time.monotonic()
        events, closed = c.events_until(lambda ev: False, 8)
        waited = time.monotonic() - started
    assert closed_by_server(events, closed), "a response held by a zero window kept its connection"
    assert waited >= 1.5, f"closed after {waited:.1f} s, before the 2 s stall timeout"
    assert not any(isinstance(e, h2.events.DataReceived) for e in events)
    node.assert_still_serving("a zero-window peer")


def test_streams_over_max_concurrent_streams_are_refused_and_the_others_served(tmp_path, pki,
                                                                               start_node, stubs):
    node = h2_node(tmp_path, pki, start_node, stubs, max_concurrent_streams=4)
    with tls_socket(node) as sock:
        c = RawClient(sock)
        # Six requests opened before the server's SETTINGS is read (so python3-h2 does not hold
        # them back), their bodies not yet sent: the fifth and sixth are over the limit.
        for sid in (1, 3, 5, 7, 9, 11):
            c.conn.send_headers(sid, request_headers())
        c.flush()
        events, _ = c.events_until(
            lambda ev: sum(isinstance(e, h2.events.StreamReset) for e in ev) >= 2, 5)
        settings = [e for e in events if isinstance(e, h2.events.RemoteSettingsChanged)]
        assert settings and settings[0].changed_settings[
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS].new_value == 4
        reset = {e.stream_id: e.error_code for e in events if isinstance(e, h2.events.StreamReset)}
        assert set(reset) == {9, 11}, events
        assert all(code in (h2.errors.ErrorCodes.REFUSED_STREAM, h2.errors.ErrorCodes.PROTOCOL_ERROR)
                   for code in reset.values()), reset
        for sid in (1, 3, 5, 7):
            c.conn.send_data(sid, EMPTY_REQUEST, end_stream=True)
        c.flush()
        more, closed = c.events_until(lambda ev: all(trailers_of(ev, s) for s in (1, 3, 5, 7)), 5)
    assert not closed
    assert [trailers_of(more, s).get("grpc-status") for s in (1, 3, 5, 7)] == ["0"] * 4, more
    node.assert_still_serving("streams over max_concurrent_streams")


def test_a_request_message_over_the_limit_is_refused_from_its_prefix(tmp_path, pki, start_node,
                                                                    stubs):
    node = h2_node(tmp_path, pki, start_node, stubs, max_receive_message_bytes=1024)
    with tls_socket(node) as sock:
        c = RawClient(sock)
        c.conn.send_headers(1, request_headers())
        # Only the prefix of a 1 MiB message: the answer must not wait for its body.
        c.conn.send_data(1, struct.pack(">BI", 0, 1 << 20))
        c.flush()
        events, _ = c.events_until(lambda ev: trailers_of(ev, 1), 5)
    status = trailers_of(events, 1)
    assert status.get("grpc-status") == "8", events
    assert "1048576" in status.get("grpc-message", ""), status
    node.assert_still_serving("a request message over max_receive_message_bytes")


def test_a_header_list_over_the_limit_gets_resource_exhausted(tmp_path, pki, start_node, stubs):
    node = h2_node(tmp_path, pki, start_node, stubs, max_header_list_bytes=4096)
    with tls_socket(node) as sock:
        c = RawClient(sock)
        c.conn.send_headers(1, request_headers(extra=[("x-big", "a" * 6000)]))
        c.conn.send_data(1, EMPTY_REQUEST, end_stream=True)
        c.flush()
        events, _ = c.events_until(lambda ev: trailers_of(ev, 1), 5)
    status = trailers_of(events, 1)
    assert status.get("grpc-status") == "8", events
    assert "max_header_list_bytes" in status.get("grpc-message", "")
    # gRPC's own client hears the same.
    with pytest.raises(grpc.RpcError) as err:
        node.roll_die(metadata=(("x-big", "a" * 6000),))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    node.assert_still_serving("an oversized header list")


def test_a_header_block_that_never_ends_is_closed_after_the_handshake_timeout(tmp_path, pki,
                                                                              start_node, stubs):
    node = h2_node(tmp_path, pki, start_node, stubs, handshake_timeout="2s")
    with tls_socket(node) as sock:
        sock.sendall(PREFACE + frame(4, 0, 0))
        sock.sendall(frame(1, 0, 1, hpack.Encoder().encode(request_headers())))  # no END_HEADERS
        started = time.monotonic()
        sock.settimeout(10)
        closed = False
        try:
            while sock.recv(65536):
                pass
            closed = True
        except socket.timeout:
            pass
        except OSError:
            closed = True
        waited = time.monotonic() - started
    assert closed and 1.5 <= waited <= 6, f"closed={closed} after {waited:.1f} s"
    node.assert_still_serving("an unfinished header block")


def call_offering_session(node: FaultNode, ctx: ssl.SSLContext, session=None):
    """One RollDie over a new TLS connection offering `session`: (grpc-status, or how the
    connection failed; resumed?; the connection's session)."""
    try:
        with tls_socket(node, ctx=ctx, session=session) as sock:
            c = RawClient(sock)
            c.conn.send_headers(1, request_headers())
            c.conn.send_data(1, EMPTY_REQUEST, end_stream=True)
            c.flush()
            events, closed = c.events_until(lambda ev: trailers_of(ev, 1), 5)
            status = trailers_of(events, 1).get("grpc-status")
            return (status if status is not None else f"no status (closed={closed})",
                    sock.session_reused, sock.session)
    except (ssl.SSLError, OSError) as e:
        return f"refused: {e}", False, None


def roundtrip_session(node: FaultNode, ctx: ssl.SSLContext, session=None):
    """One RollDie that must succeed (offering `session`); (its session, resumed?)."""
    status, reused, new_session = call_offering_session(node, ctx, session)
    assert status == "0", status
    return new_session, reused


def test_tls_sessions_resume_within_one_credential_set_and_not_across_a_reload(tmp_path, pki,
                                                                             start_node, stubs):
    """Engine h2 issues session tickets sealed by the current TLS context; a reload (here a new
    server certificate; a CRL or CA change alike) builds a new context, so no ticket from before
    it opens: a revocation can never be skipped by resuming."""
    node = h2_node(tmp_path, pki, start_node, stubs)
    ctx = client_context(node)
    first, reused = roundtrip_session(node, ctx)
    assert not reused
    session, reused = roundtrip_session(node, ctx, first)
    assert reused, "a second connection with the first one's ticket was not resumed"

    fresh = pki.issue("server2", "server")
    ng.install_pair(fresh, node.server.cert, node.server.key)
    want = ng.sha256_fingerprint(ng.load_cert(fresh.cert))

    def reloaded():
        served = ng.served_certificate(node.daemon.port, pki.ca, node.client.cert, node.client.key)
        return ng.sha256_fingerprint(served) == want

    ng.wait_until(reloaded, 10, "the reloaded certificate")
    _, reused = roundtrip_session(node, ctx, session)
    assert not reused, "a ticket issued before the reload resumed a session after it"
    node.assert_still_serving("resumption across a reload")


@pytest.mark.parametrize("engine", ["h2", "grpc"])
def test_a_revoked_client_cannot_resume_a_session_from_before_the_crl_reload(engine, tmp_path, pki,
                                                                              start_node, stubs):
    """A resumed TLS session skips the client certificate's verification, so a ticket that still
    opened after the CRL revoked its certificate would let the revoked client in. On both engines a
    CRL change builds a new TLS context with a new ticket key (engine grpc: gRPC's own, when the
    node hands it the changed credentials), so the old ticket no longer resumes and the full
    handshake that follows refuses the certificate."""
    pki.write_crl()
    node = FaultNode(tmp_path, pki, start_node, stubs,
                     extra={"grpc": {"engine": engine},
                            "tls": {"crl": str(pki.crl), "reload_interval": "1s"}})
    resumer = pki.issue("resumer", "client")
    ctx = client_context(node, client=resumer)
    first, reused = roundtrip_session(node, ctx)
    assert not reused
    status, reused, _ = call_offering_session(node, ctx, first)
    assert (status, reused) == ("0", True), f"engine {engine} did not resume a session at all"

    pki.revoke(resumer)  # rewrites the configured crl.pem in place
    ng.wait_until(lambda: call_offering_session(node, client_context(node, client=resumer),
                                                None)[0] != "0",
                  10, "the revoked client to be refused on a full handshake")
    status, reused, _ = call_offering_session(node, ctx, first)
    assert not reused, f"engine {engine}: a ticket from before the CRL reload resumed a session"
    assert status != "0", f"engine {engine}: the revoked client got a call through ({status})"
    node.assert_still_serving("a revoked client offering an old session")
