"""Errors that say why (issue 15 §3), end to end: the real daemon, certificates made by `nodegate pki`.

The client side: `nodegate call` turns the known failure shapes of a dial into one sentence (it dials
once more with OpenSSL to find out which). The node's side: every refused handshake is an access-log
line (rate-limited) with the peer, the presented certificate and the reason, counted by reason in
/metrics; plain HTTP on a TLS port gets nginx's 400; h2c on the gRPC port a GOAWAY and a line.
SIGHUP re-reads the policy rules; a broken rule keeps the old ones and the log says why.
"""

from __future__ import annotations

import re
import signal
import socket
import ssl
import struct
import time
from pathlib import Path

import pytest

import nodegate_testlib as ng
from nodegate_testlib import SecureNode

HTTP_RE = re.compile(r"listening http=127\.0\.0\.1:(\d+)")
# Engine grpc closes a refused handshake without a word; engine h2 (OpenSSL) sends the TLS alert,
# which the client then names: "the server closed the handshake (TLS alert: certificate revoked): …".
REFUSED_BY_SERVER = re.compile(r"the server closed the handshake( \(TLS alert: [^)]*\))?: your "
                               r"certificate may be revoked, expired, from another CA or lack "
                               r"clientAuth — see the node's log")


def start(tmp_path: Path, pki: ng.Pki, start_node, *, san: str = "127.0.0.1,localhost",
          crl: bool = True, http: bool = False, extra_toml: str = ""):
    """A node with mTLS required (and a CRL), optionally the HTTPS console (client_auth request)."""
    server = pki.issue("server", "server", "--san", san)
    client = pki.issue("dev-client", "client")
    if crl:
        pki.write_crl()
    extra = {"http": {"listen": "127.0.0.1:0", "client_auth": "request"}} if http else None
    config = ng.node_config(tmp_path, cert=server.cert, key=server.key, ca=pki.ca,
                            crl=pki.crl if crl else None, extra=extra)
    if extra_toml:
        config.write_text(config.read_text() + "\n" + extra_toml)
    daemon = start_node(config)
    http_port = None
    if http:
        m = ng.wait_until(lambda: HTTP_RE.search(daemon.stderr()), ng.START_TIMEOUT_S,
                          "the 'listening http=' line")
        http_port = int(m.group(1))
    client_toml = ng.client_config(tmp_path / "client.toml", target=daemon.address, ca=pki.ca,
                                   cert=client.cert, key=client.key)
    return SecureNode(pki, server, client, config, daemon, client_toml), http_port


def call(node: SecureNode, client: ng.Issued | None = None, *extra: str):
    return ng.call_dice(*node.call_args(client), *extra, check=False)


def refusals(node: SecureNode, listener: str) -> list[dict]:
    return [e for e in node.daemon.access_log() if e.get("method") == f"tls-handshake:{listener}"]


def wait_for_log(node: SecureNode, needle: str) -> str:
    return ng.wait_until(lambda: needle in node.daemon.stderr() and node.daemon.stderr(),
                         ng.RPC_TIMEOUT_S, f"the node's log line {needle!r}")


def wait_for_refusal(node: SecureNode, words: str) -> str:
    """The node's line for a refused gRPC handshake. Engine h2 knows the peer and names it
    ("grpc: 127.0.0.1:5555: tls handshake refused: …"); gRPC's own handshaker does not."""
    line = re.compile(r"grpc: (127\.0\.0\.1:\d+: )?tls handshake refused: " + re.escape(words))
    return ng.wait_until(lambda: line.search(node.daemon.stderr()) and node.daemon.stderr(),
                         ng.RPC_TIMEOUT_S, f"the node's log line {line.pattern!r}")


def metrics(node: SecureNode, port: int) -> str:
    ctx = ng.tls_client_context(node.pki.ca, node.client.cert, node.client.key)
    with socket.create_connection((ng.HOST, port), timeout=ng.RPC_TIMEOUT_S) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return ng.recv_until_eof(tls).decode(errors="replace")


def plain_request(port: int, payload: bytes) -> bytes:
    with socket.create_connection((ng.HOST, port), timeout=ng.RPC_TIMEOUT_S) as s:
        s.sendall(payload)
        return ng.recv_until_eof(s)


# ------------------------------------------------------------------------------------------------
# `nodegate call`: the sentence for each failure shape


def test_server_certificate_without_the_dialled_ip_names_its_names_and_the_fix(tmp_path, pki,
                                                                                start_node):
    node, _ = start(tmp_path, pki, start_node, san="localhost")

    result = call(node)

    assert result.returncode not in (0, 2), result  # an RPC error, not usage
    assert ("the server's certificate does not name 127.0.0.1 (it names: localhost) — use "
            "--server-name localhost or reissue with --san 127.0.0.1") in result.stderr
    assert call(node, None, "--server-name", "localhost").returncode == 0


def test_revoked_client_certificate_is_said_on_both_sides(tmp_path, pki, start_node):
    revoked = pki.issue("revoked-client", "client")
    pki.revoke(revoked)
    node, http_port = start(tmp_path, pki, start_node, http=True)

    result = call(node, revoked)

    assert result.returncode not in (0, 2), result  # an RPC error, not usage
    assert REFUSED_BY_SERVER.search(result.stderr), result.stderr
    wait_for_refusal(node, "client certificate revoked")
    # The HTTPS listener knows the peer and the certificate: subject and serial are named.
    ctx = ng.tls_client_context(pki.ca, revoked.cert, revoked.key)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection((ng.HOST, http_port), timeout=ng.RPC_TIMEOUT_S) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                tls.recv(1)
    serial = ng.serial_hex(revoked.serial)
    # (Engine h2 names the serial on its grpc line too: wait for the http line itself.)
    http_line = re.compile(r"http: 127\.0\.0\.1:\d+: tls handshake refused: client certificate "
                           r"revoked \(subject CN=revoked-client[^)]*, serial " + serial + r"\)")
    ng.wait_until(lambda: http_line.search(node.daemon.stderr()), ng.RPC_TIMEOUT_S,
                  f"the node's log line {http_line.pattern!r}")
    entries = ng.wait_until(lambda: refusals(node, "http"), ng.RPC_TIMEOUT_S, "the access-log line")
    assert entries[0]["peer"].startswith("127.0.0.1:")
    assert f"serial {serial}" in entries[0]["reason"]
    assert 'listener="http",reason="revoked"} 1' in metrics(node, http_port)


def test_client_certificate_from_another_ca_is_said_on_both_sides(tmp_path, pki, other_ca,
                                                                   start_node):
    node, _ = start(tmp_path, pki, start_node)
    stranger = other_ca.issue("stranger", "client")

    result = call(node, stranger)

    assert result.returncode not in (0, 2), result  # an RPC error, not usage
    assert REFUSED_BY_SERVER.search(result.stderr), result.stderr
    wait_for_refusal(node, "client certificate from an unknown CA")
    ng.wait_until(lambda: any("unknown CA" in e["reason"] for e in refusals(node, "grpc")),
                  ng.RPC_TIMEOUT_S, "the access-log line")


def test_certificate_without_client_auth_is_said_on_both_sides(tmp_path, pki, start_node):
    node, _ = start(tmp_path, pki, start_node)
    server_only = pki.issue("server-only", "server")

    result = call(node, server_only)

    assert result.returncode not in (0, 2), result  # an RPC error, not usage
    assert REFUSED_BY_SERVER.search(result.stderr), result.stderr
    wait_for_log(node, "tls handshake refused: client certificate lacks the clientAuth extended "
                       "key usage")


def test_no_client_certificate_is_said_on_both_sides(tmp_path, pki, start_node):
    node, _ = start(tmp_path, pki, start_node)

    result = ng.call_dice("--target", node.address, "--ca", pki.ca, check=False)

    assert result.returncode not in (0, 2), result  # an RPC error, not usage
    assert re.search(r"the server closed the handshake( \(TLS alert: [^)]*\))?: it probably requires "
                     r"a client certificate", result.stderr), result.stderr
    wait_for_refusal(node, "no client certificate")


def test_key_of_another_certificate_is_said_before_any_connection(tmp_path, pki, start_node):
    node, _ = start(tmp_path, pki, start_node)
    other = pki.issue("other-client", "client")

    result = ng.call_dice("--target", node.address, "--ca", pki.ca, "--cert", node.client.cert,
                          "--key", other.key, check=False)

    assert result.returncode == 2, result
    assert (f"the key {other.key} does not belong to the certificate {node.client.cert}"
            in result.stderr)
    assert "empty address list" not in result.stderr
    assert "grpc: tls handshake refused" not in node.daemon.stderr()  # it never dialled


def test_nothing_listening_is_said(tmp_path, pki):
    pki.issue("dev-client", "client")
    port = ng.free_port_block(1)

    result = ng.call_dice("--target", f"127.0.0.1:{port}", "--ca", pki.ca, "--cert",
                          pki.dir / "dev-client.pem", "--key", pki.dir / "dev-client-key.pem",
                          check=False)

    assert result.returncode not in (0, 2), result  # an RPC error, not usage
    assert f"nothing listens on 127.0.0.1:{port} (connection refused)" in result.stderr


def test_server_from_another_ca_is_said(tmp_path, pki, other_ca, start_node):
    node, _ = start(tmp_path, pki, start_node)

    result = ng.call_dice("--target", node.address, "--ca", other_ca.ca, "--cert", node.client.cert,
                          "--key", node.client.key, check=False)

    assert result.returncode not in (0, 2), result  # an RPC error, not usage
    assert f"does not chain to your CA {other_ca.ca}" in result.stderr


@pytest.mark.parametrize("command", [["call", "/api.DiceService/RollDie"], ["list"],
                                     ["describe", "api.DiceService"]])
def test_reflection_commands_say_it_too(tmp_path, pki, other_ca, start_node, command):
    # A generic call, list and describe dial the node first for reflection: their failure gets
    # the same sentence as `call dice`, and exits 64 + UNAVAILABLE (78).
    node, _ = start(tmp_path, pki, start_node)

    result = ng.run_nodegate(*command, "--target", node.address, "--ca", other_ca.ca, "--cert",
                             node.client.cert, "--key", node.client.key, check=False)

    assert result.returncode == 64 + 14, result
    assert f"does not chain to your CA {other_ca.ca}" in result.stderr


# ------------------------------------------------------------------------------------------------
# The node's side: plaintext on TLS ports


def test_plain_http_to_the_console_port_gets_nginxs_400_and_a_log_line(tmp_path, pki, start_node):
    node, http_port = start(tmp_path, pki, start_node, http=True)

    answer = plain_request(http_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").decode()

    assert answer.startswith("HTTP/1.1 400 Bad Request\r\n"), answer
    assert "The plain HTTP request was sent to HTTPS port" in answer
    line = wait_for_log(node, "tls handshake refused: plaintext on a TLS port: a plain HTTP request")
    assert re.search(r"http: 127\.0\.0\.1:\d+: tls handshake refused: plaintext", line)
    assert 'listener="http",reason="plaintext"} 1' in metrics(node, http_port)


def test_plain_http_to_the_grpc_port_gets_400_and_a_log_line_with_the_peer(tmp_path, pki,
                                                                            start_node):
    node, _ = start(tmp_path, pki, start_node)

    answer = plain_request(node.port, b"POST /api.DiceService/RollDie HTTP/1.1\r\n\r\n").decode()

    assert answer.startswith("HTTP/1.1 400 Bad Request\r\n"), answer
    line = wait_for_log(node, "tls handshake refused: plaintext on a TLS port: a plain HTTP/1")
    assert re.search(r"grpc: 127\.0\.0\.1:\d+: tls handshake refused", line), line


def test_h2c_to_the_grpc_port_gets_goaway_and_a_log_line_with_the_peer(tmp_path, pki, start_node):
    node, _ = start(tmp_path, pki, start_node)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"

    answer = plain_request(node.port, preface)

    # An empty SETTINGS frame, then GOAWAY (type 7) whose debug data says why.
    assert answer[:9] == b"\x00\x00\x00\x04\x00\x00\x00\x00\x00", answer
    length = struct.unpack(">I", b"\x00" + answer[9:12])[0]
    assert answer[12] == 7
    assert b"this port speaks TLS" in answer[9 + 9 + 8:9 + 9 + length]
    line = wait_for_log(node, "tls handshake refused: plaintext on a TLS port: cleartext HTTP/2 (h2c)")
    assert re.search(r"grpc: 127\.0\.0\.1:\d+: tls handshake refused", line), line
    ng.wait_until(lambda: any(e["peer"].startswith("127.0.0.1:") for e in refusals(node, "grpc")),
                  ng.RPC_TIMEOUT_S, "the access-log line with the peer")
    # A TLS client is unaffected by the screening.
    assert ng.call_dice("--config", node.client_toml).returncode == 0


def test_a_flood_of_plaintext_peers_costs_a_few_lines_and_the_next_says_how_many(tmp_path, pki,
                                                                                start_node):
    node, _ = start(tmp_path, pki, start_node)

    for _ in range(20):
        plain_request(node.port, b"GET / HTTP/1.1\r\n\r\n")
    time.sleep(1.1)  # the limiter's interval (1 s per listener and reason) has passed
    plain_request(node.port, b"GET / HTTP/1.1\r\n\r\n")

    line = wait_for_log(node, "more like this suppressed")
    logged = [l for l in node.daemon.stderr().splitlines() if "plaintext on a TLS port" in l]
    assert 2 <= len(logged) < 21, logged
    assert re.search(r"; \d+ more like this suppressed", line)


# ------------------------------------------------------------------------------------------------
# SIGHUP re-reads the policy rules


DENY_DICE = """
[[auth.rule]]
method = "/api.DiceService/RollDie"
roles = ["nobody-has-this-role"]
"""

BROKEN_RULE = """
[[auth.rule]]
method = "RollDie-without-a-slash"
public = true
"""


def hup_and_wait(node: SecureNode, needle: str, count_before: int) -> None:
    node.daemon.signal(signal.SIGHUP)
    ng.wait_until(lambda: node.daemon.stderr().count(needle) > count_before, ng.RPC_TIMEOUT_S,
                  f"the SIGHUP line {needle!r}")


def test_sighup_applies_a_changed_rule_and_a_broken_file_keeps_the_old_rules(tmp_path, pki,
                                                                            start_node):
    node, _ = start(tmp_path, pki, start_node)
    original = node.config.read_text()
    assert call(node).returncode == 0

    node.config.write_text(original + DENY_DICE)
    hup_and_wait(node, "policy reloaded from", 0)
    refused = call(node)
    assert refused.returncode not in (0, 2), refused
    assert "PERMISSION_DENIED" in refused.stderr

    node.config.write_text(original + BROKEN_RULE)
    hup_and_wait(node, "SIGHUP: reload refused", 0)
    log = node.daemon.stderr()
    assert "policy not reloaded, the previous rules stay in force" in log
    assert f"{node.config}: auth.rule[0]" in log or "node.toml: auth.rule[0]" in log, log
    still_refused = call(node)
    assert still_refused.returncode not in (0, 2) and "PERMISSION_DENIED" in still_refused.stderr

    node.config.write_text(original)
    hup_and_wait(node, "policy reloaded from", 1)
    assert call(node).returncode == 0
