"""gRPC interop cases from Go (Debian's grpc-go 1.33) against grpc_interop_server, nodegate's
server core serving grpc.testing.TestService (docs/interop.md).

tests/interop/go/interop_client is written from gRPC's published interop-test descriptions and built
here offline in GOPATH mode (facts §9, as test_go.py does): the grpc.testing Go code is generated at
test time with protoc + protoc-gen-go (`plugins=grpc`) into a temporary GOPATH, nothing generated is
committed. mTLS with a certificate from `nodegate pki`, loopback only.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import grpc_interop as gi
import nodegate_testlib as ng
from test_go import GO_BUILD_TIMEOUT_S, go_env, missing_go_toolchain, run_checked

CLIENT_SOURCES = ng.SOURCE_DIR / "tests" / "interop" / "go" / "interop_client"

pytestmark = pytest.mark.skipif(
    missing_go_toolchain() is not None,
    reason=f"Go toolchain absent ({missing_go_toolchain()}); scripts/install-deps installs it")


@pytest.fixture(scope="module")
def go_client(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("go-interop")
    gopath = root / "go"
    src = gopath / "src"
    (src / "nodegate" / "interop").mkdir(parents=True)
    # One protoc run: the three files are one Go package (grpc/testing), as protoc-gen-go 1.3.5 needs.
    run_checked(["protoc", f"-I{ng.SOURCE_DIR / 'proto'}", f"--go_out=plugins=grpc:{src}",
                 *[f"grpc/testing/{n}.proto" for n in gi.TESTING_PROTOS]])
    shutil.copytree(CLIENT_SOURCES, src / "nodegate" / "interop" / "interop_client")
    started = time.monotonic()
    run_checked(["go", "build", "-o", f"{root}/", "nodegate/interop/interop_client"],
                env=go_env(gopath), cwd=root, timeout=GO_BUILD_TIMEOUT_S)
    ng.record_metric("go_grpc_interop_build", time.monotonic() - started, "s",
                     "cold GOPATH build of the Go interop client")
    return root / "interop_client"


@pytest.mark.parametrize("case", gi.CASES)
def test_go_client(case, go_client, interop_server, interop_material):
    user_agent = f"go-interop-{uuid.uuid4().hex}"
    m = interop_material
    proc = subprocess.run(
        [str(go_client), "-server_host", ng.HOST, "-server_port", str(interop_server.port),
         "-ca", str(m.pki.ca), "-cert", str(m.client.cert), "-key", str(m.client.key),
         "-test_case", case, "-user_agent", user_agent],
        capture_output=True, text=True, timeout=gi.CASE_TIMEOUT_S, stdin=subprocess.DEVNULL)

    assert proc.returncode == 0 and proc.stdout.strip() == f"PASS {case}", (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    if case == "cancel_after_first_response":
        [entry] = gi.wait_for_entries(interop_server, user_agent,
                                      "/grpc.testing.TestService/FullDuplexCall", 1)
        assert entry["status"] == "CANCELLED" and entry["peer"].startswith("ipv4:"), entry
