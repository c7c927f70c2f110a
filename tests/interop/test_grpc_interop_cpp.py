"""gRPC interop cases from C++ (gRPC 1.51, build/tests/interop/grpc_interop_client, written from gRPC's
published interop-test descriptions) against grpc_interop_server, nodegate's server core serving
grpc.testing.TestService (docs/interop.md). mTLS with a certificate from `nodegate pki`, loopback only.
"""

from __future__ import annotations

import subprocess

import pytest

import grpc_interop as gi
import nodegate_testlib as ng


@pytest.mark.parametrize("case", gi.CASES)
def test_cpp_client(case, interop_server, interop_material):
    m = interop_material
    proc = subprocess.run(
        [str(gi.CLIENT_BIN), "--server_host", ng.HOST, "--server_port", str(interop_server.port),
         "--server_host_override", "localhost", "--ca", str(m.pki.ca), "--cert", str(m.client.cert),
         "--key", str(m.client.key), "--test_case", case],
        capture_output=True, text=True, timeout=gi.CASE_TIMEOUT_S, stdin=subprocess.DEVNULL)

    assert proc.returncode == 0 and proc.stdout.strip() == f"PASS {case}", (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")


def test_cpp_client_without_the_servers_name_in_the_certificate_is_refused(interop_server,
                                                                           interop_material):
    m = interop_material
    proc = subprocess.run(
        [str(gi.CLIENT_BIN), "--server_host", ng.HOST, "--server_port", str(interop_server.port),
         "--server_host_override", "not-the-server", "--ca", str(m.pki.ca), "--cert",
         str(m.client.cert), "--key", str(m.client.key), "--test_case", "empty_unary"],
        capture_output=True, text=True, timeout=gi.CASE_TIMEOUT_S, stdin=subprocess.DEVNULL)

    assert proc.returncode == 1 and "FAIL empty_unary" in proc.stdout, proc.stdout + proc.stderr
