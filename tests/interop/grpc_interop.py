"""Shared by the gRPC interop suites (test_grpc_interop_{python,go,cpp}.py): the interop cases,
the PKI, and build/tests/interop/grpc_interop_server on an ephemeral loopback port (docs/interop.md).

The server is nodegate's own server core (rpc::Server) serving grpc.testing.TestService with mTLS
required and a default-deny policy; its access log (JSON lines) goes to a file the tests read.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import importlib
from dataclasses import dataclass
from pathlib import Path

import nodegate_testlib as ng

# The cases of gRPC's interop-test descriptions this suite runs, from every client.
CASES = [
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "timeout_on_sleeping_server",
    "cancel_after_begin",
    "cancel_after_first_response",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
]

SERVER_BIN = ng.BUILD_DIR / "tests" / "interop" / "grpc_interop_server"
CLIENT_BIN = ng.BUILD_DIR / "tests" / "interop" / "grpc_interop_client"
CASE_TIMEOUT_S = 30.0
LISTENING_RE = re.compile(r"listening grpc=127\.0\.0\.1:(\d+)")
TESTING_PROTOS = ("empty", "messages", "test")


@dataclass
class Material:
    pki: ng.Pki
    server: ng.Issued
    client: ng.Issued           # CN=interop-client, from the server's CA
    other_ca_client: ng.Issued  # from an unrelated CA


def make_material(root: Path) -> Material:
    pki = ng.Pki(root / "pki").init()
    other = ng.Pki(root / "other-ca").init()
    return Material(pki, pki.issue("server", "server"), pki.issue("interop-client", "client"),
                    other.issue("interop-client", "client"))


class InteropServer:
    """grpc_interop_server on 127.0.0.1:0, access log in `workdir/access.log`."""

    def __init__(self, material: Material, workdir: Path):
        self.access_log_path = workdir / "access.log"
        self.stderr_path = workdir / "server.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(SERVER_BIN), "--listen", f"{ng.HOST}:0", "--cert", str(material.server.cert),
                 "--key", str(material.server.key), "--ca", str(material.pki.ca),
                 "--access_log", str(self.access_log_path), "--live_dir", str(workdir / "tls-live"),
                 "--engine", ng.TEST_ENGINE or "grpc"],
                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)

        def listening():
            m = LISTENING_RE.search(self.stderr_path.read_text(errors="replace"))
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"grpc_interop_server exited {self.proc.returncode}:\n"
                                     f"{self.stderr_path.read_text(errors='replace')}")
            return None

        self.port = ng.wait_until(listening, ng.START_TIMEOUT_S, "grpc_interop_server's listening line")

    @property
    def address(self) -> str:
        return f"{ng.HOST}:{self.port}"

    def access_log(self) -> list[dict]:
        if not self.access_log_path.exists():
            return []
        return [json.loads(line) for line in self.access_log_path.read_text().splitlines() if line]

    def entries_of(self, user_agent_prefix: str) -> list[dict]:
        return [e for e in self.access_log() if e.get("user_agent", "").startswith(user_agent_prefix)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=ng.EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=ng.EXIT_TIMEOUT_S)
        assert self.proc.returncode == 0, f"grpc_interop_server exited {self.proc.returncode}"


def wait_for_entries(server: InteropServer, user_agent_prefix: str, method: str, count: int) -> list[dict]:
    """The access-log lines of `method` from callers whose user agent starts with the prefix, once
    there are `count` of them (a call is logged a moment after its client has the status)."""
    def found():
        entries = [e for e in server.entries_of(user_agent_prefix) if e["method"] == method]
        return entries if len(entries) >= count else None

    return ng.wait_until(found, ng.RPC_TIMEOUT_S, f"{count} access-log lines of {method}")


_generated_lock = threading.Lock()


def generate_python_stubs(out_dir: Path):
    """empty_pb2, messages_pb2, test_pb2, test_pb2_grpc from proto/grpc/testing, generated with
    Debian's grpc_tools. The protos are compiled flat (their imports rewritten to the same folder):
    as grpc/testing/*.proto the modules would land in `grpc.testing`, inside the grpc package."""
    out_dir = Path(out_dir)
    flat = out_dir / "proto"
    flat.mkdir(parents=True, exist_ok=True)
    for name in TESTING_PROTOS:
        text = (ng.SOURCE_DIR / "proto" / "grpc" / "testing" / f"{name}.proto").read_text()
        (flat / f"{name}.proto").write_text(text.replace('import "grpc/testing/', 'import "'))
    proc = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{flat}", f"--python_out={out_dir}",
         f"--grpc_python_out={out_dir}", *[f"{n}.proto" for n in TESTING_PROTOS]],
        capture_output=True, text=True, timeout=ng.CLI_TIMEOUT_S)
    assert proc.returncode == 0, f"grpc_tools.protoc grpc/testing failed:\n{proc.stderr}"
    with _generated_lock:
        if str(out_dir) not in sys.path:
            sys.path.insert(0, str(out_dir))
        importlib.invalidate_caches()
        return tuple(importlib.import_module(m)
                     for m in ("empty_pb2", "messages_pb2", "test_pb2_grpc"))


def require_binaries() -> None:
    for b in (SERVER_BIN, CLIENT_BIN):
        if not b.is_file():
            raise AssertionError(f"{b} not built (cmake --build build --target {b.name})")
