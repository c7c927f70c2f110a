"""`nodegate echo`: the seed's echo server with TLS and optional client certificates, checked with
`openssl s_client` and Python's ssl module."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading

import pytest

import nodegate_testlib as ng


@pytest.fixture
def procs(tmp_path):
    started: list[ng.ProxyProcess] = []

    def start(args: list, name: str) -> ng.ProxyProcess:
        p = ng.ProxyProcess("echo", args, tmp_path / "procs", name)
        started.append(p)
        return p.start()

    yield start
    for p in started:
        try:
            p.stop()
        except AssertionError:
            pass


@pytest.fixture
def files(pki):
    return {"server": pki.issue("server", "server"), "client": pki.issue("alice", "client")}


def echo_args(files, pki, *, client_ca: bool) -> list:
    args = ["echo", "--listen", "127.0.0.1:0", "--tls-cert", files["server"].cert,
            "--tls-key", files["server"].key]
    return args + (["--client-ca", pki.ca] if client_ca else [])


def tls_echo(port: int, ctx: ssl.SSLContext, payload: bytes) -> bytes:
    with socket.create_connection((ng.HOST, port), timeout=ng.RPC_TIMEOUT_S) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(payload)
            return ng.recv_exactly(tls, len(payload))


def s_client(port: int, pki, cert=None, key=None) -> tuple[str, int]:
    """Sends one line through `openssl s_client -quiet`; returns (what came back, exit code)."""
    cmd = ["openssl", "s_client", "-connect", f"{ng.HOST}:{port}", "-CAfile", str(pki.ca),
           "-verify_return_error", "-verify_hostname", "localhost", "-quiet"]
    if cert:
        cmd += ["-cert", str(cert), "-key", str(key)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))
    reader.start()
    try:
        proc.stdin.write(b"hello from s_client\n")
        proc.stdin.flush()
    except BrokenPipeError:
        pass
    reader.join(timeout=ng.RPC_TIMEOUT_S * 2)
    proc.kill()
    proc.wait(timeout=ng.EXIT_TIMEOUT_S)
    reader.join(timeout=ng.RPC_TIMEOUT_S)
    return (line[0].decode(errors="replace") if line else ""), proc.returncode


def test_python_ssl_with_client_certificate_gets_its_bytes_back(procs, files, pki):
    echo = procs(echo_args(files, pki, client_ca=True), "echo")
    ctx = ng.tls_client_context(pki.ca, files["client"].cert, files["client"].key)
    assert tls_echo(echo.port, ctx, b"ping " * 1000) == b"ping " * 1000
    line = echo.wait_connection_lines(1)[0]
    assert "cn=alice" in line["identity"] and line["close"] == "eof"


def test_python_ssl_without_client_certificate_is_refused_when_a_client_ca_is_set(procs, files, pki):
    echo = procs(echo_args(files, pki, client_ca=True), "echo")
    with pytest.raises((ssl.SSLError, ConnectionError, AssertionError, OSError)):
        tls_echo(echo.port, ng.tls_client_context(pki.ca), b"ping")
    assert echo.wait_connection_lines(1)[0]["close"].startswith("refused: handshake")


def test_without_client_ca_no_certificate_is_needed(procs, files, pki):
    echo = procs(echo_args(files, pki, client_ca=False), "echo")
    assert tls_echo(echo.port, ng.tls_client_context(pki.ca), b"anon") == b"anon"


def test_openssl_s_client_with_and_without_client_certificate(procs, files, pki):
    echo = procs(echo_args(files, pki, client_ca=True), "echo")
    echoed, _ = s_client(echo.port, pki, files["client"].cert, files["client"].key)
    assert echoed == "hello from s_client\n"
    refused, _ = s_client(echo.port, pki)
    assert refused == ""


def test_plain_echo_answers_half_close_with_half_close(procs):
    echo = procs(["echo", "--listen", "127.0.0.1:0"], "plain")
    with socket.create_connection((ng.HOST, echo.port), timeout=ng.RPC_TIMEOUT_S) as s:
        s.sendall(b"abc" * 10000)
        s.shutdown(socket.SHUT_WR)
        assert ng.recv_until_eof(s) == b"abc" * 10000
    assert echo.wait_connection_lines(1)[0]["up"] == 30000


def test_certificate_without_key_is_a_usage_error(files):
    out = ng.run_nodegate("echo", "--tls-cert", files["server"].cert, check=False)
    assert out.returncode == 2 and "--tls-key" in out.stderr
