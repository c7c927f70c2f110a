"""`nodegate call` with --proto against grpc_interop_server (grpc.testing.TestService on nodegate's
server core, mTLS, no reflection): client and server streaming, which no method of a node has,
and the types taken from the repository's .proto files (issue 15 §1, docs/cli.md).
"""

from __future__ import annotations

import json
import subprocess

import pytest

import grpc_interop as gi
import nodegate_testlib as ng

PROTO = ["--proto", "grpc/testing/test.proto", "--import-path", str(ng.SOURCE_DIR / "proto")]
SERVICE = "/grpc.testing.TestService/"


@pytest.fixture
def call(interop_server, interop_material):
    m = interop_material

    def run(method: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ng.NODEGATE_BIN), "call", SERVICE + method, "--target", interop_server.address,
             "--ca", str(m.pki.ca), "--cert", str(m.client.cert), "--key", str(m.client.key),
             "--server-name", "localhost", *PROTO, *extra],
            capture_output=True, text=True, timeout=ng.CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)

    return run


def lines(proc: subprocess.CompletedProcess) -> list[dict]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_client_streaming_sends_each_json_value_as_a_message(call):
    # Three requests of 3, 1 and 0 payload bytes ("AAAA" and "AA" in base64).
    proc = call("StreamingInputCall", "-d",
                '{"payload": {"body": "AAAA"}} {"payload": {"body": "AA"}}\n{}')

    assert lines(proc) == [{"aggregatedPayloadSize": 4}]


def test_client_streaming_with_no_value_sends_no_message(call):
    assert lines(call("StreamingInputCall", "-d", "")) == [{}]


def test_server_streaming_prints_one_line_per_message_in_order(call):
    proc = call("StreamingOutputCall", "-d",
                '{"responseParameters": [{"size": 1}, {"size": 2}, {"size": 3}]}')

    bodies = [r["payload"]["body"] for r in lines(proc)]
    assert bodies == ["AA==", "AAA=", "AAAA"]  # 1, 2 and 3 zero bytes


def test_bidi_streaming(call):
    proc = call("FullDuplexCall", "-d",
                '{"responseParameters": [{"size": 2}]} {"responseParameters": [{"size": 1}]}')

    assert [r["payload"]["body"] for r in lines(proc)] == ["AAA=", "AA=="]


def test_a_status_the_server_sends_is_the_exit_code(call):
    proc = call("UnaryCall", "-d", '{"responseStatus": {"code": 9, "message": "not now"}}')

    assert proc.returncode == 64 + 9, proc.stderr  # FAILED_PRECONDITION
    assert "call failed: FAILED_PRECONDITION: not now" in proc.stderr


def test_a_method_the_server_does_not_implement_exits_76(call):
    proc = call("UnimplementedCall")

    assert proc.returncode == 64 + 12, proc.stderr
    assert "call failed: UNIMPLEMENTED" in proc.stderr


def test_without_proto_a_server_without_reflection_exits_76_with_a_hint(interop_server,
                                                                        interop_material):
    m = interop_material
    proc = subprocess.run(
        [str(ng.NODEGATE_BIN), "list", "--target", interop_server.address, "--ca", str(m.pki.ca),
         "--cert", str(m.client.cert), "--key", str(m.client.key), "--server-name", "localhost"],
        capture_output=True, text=True, timeout=ng.CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)

    assert proc.returncode == 64 + 12, proc.stderr
    assert "give the types with --proto FILE" in proc.stderr
