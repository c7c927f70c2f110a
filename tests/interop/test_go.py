"""Interop with Go peers (issue 6): Debian's Go toolchain and grpc-go, offline.

The Go programs are built here in GOPATH mode (facts §9):
GO111MODULE=off, GOPATH=<tmp>/go:/usr/share/gocode (golang-google-grpc-dev, golang-goprotobuf-dev),
GOCACHE in tmp, no network, no module proxy. Their Go code for proto/api/dice.proto and
proto/nodegate/v1/identity.proto is generated at test time with protoc + protoc-gen-go
(`plugins=grpc`) into the temporary GOPATH; nothing generated is committed.

(a) bench/go/src/seedserver, the benchmark's seed-001-style DiceService server (mTLS with
    tls.RequireAndVerifyClientCert and a logging unary interceptor), reused here rather than copied:
    `nodegate call dice` reaches it with mTLS, and it refuses clients without a certificate from
    its CA.
(b) tests/interop/go/sig_client calls `nodegate serve` with mTLS and with v1 per-call signatures (Ed25519 via
    crypto/ed25519, ECDSA P-256 via crypto/ecdsa) written from the wire format in docs/auth.md.

Every process is on 127.0.0.1 and stopped in teardown; waiting is polling with a deadline.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

import nodegate_testlib as ng

SIG_CLIENT_SOURCES = ng.SOURCE_DIR / "tests" / "interop" / "go" / "sig_client"
SEED_SERVER_SOURCES = ng.SOURCE_DIR / "bench" / "go" / "src" / "seedserver"
GO_SYSTEM_PATH = Path("/usr/share/gocode")
GO_BUILD_TIMEOUT_S = 240.0              # cold build of grpc-go: ~7 s idle, much more on a busy box
NODE_ID = "e2e-node"                    # ng.node_config's [node] id: the audience of every signature
ROLL_DIE = "/api.DiceService/RollDie"

LISTENING_RE = re.compile(r"listening grpc=127\.0\.0\.1:(\d+)")
WHOAMI_RE = re.compile(r"^whoami kind=(\S*) id=(\S*) roles=(\S*) authenticators=(\S*) node=(\S*)$")
ERROR_RE = re.compile(r"^error code=(\S+) message=(.*)$")


def missing_go_toolchain() -> Optional[str]:
    for tool in ("go", "protoc", "protoc-gen-go"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    if not (GO_SYSTEM_PATH / "src" / "google.golang.org" / "grpc").is_dir():
        return f"grpc-go not found under {GO_SYSTEM_PATH} (golang-google-grpc-dev)"
    return None


pytestmark = pytest.mark.skipif(
    missing_go_toolchain() is not None,
    reason=f"Go toolchain absent ({missing_go_toolchain()}); scripts/install-deps installs golang-go, "
           "golang-google-grpc-dev and golang-goprotobuf-dev")


@pytest.fixture(scope="module", autouse=True)
def nodegate_binary():
    if not ng.NODEGATE_BIN.is_file():
        pytest.fail(f"nodegate binary not found at {ng.NODEGATE_BIN} (set NODEGATE_BIN)", pytrace=False)


# ------------------------------------------------------------------------------------------------
# Building the Go programs


@dataclass
class GoPrograms:
    seed_server: Path
    sig_client: Path


def go_env(gopath: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}  # GOFLAGS etc. unset
    env.update(GO111MODULE="off", GOPATH=f"{gopath}:{GO_SYSTEM_PATH}", GOCACHE=str(gopath / "cache"),
               GOPROXY="off", GOTOOLCHAIN="local", CGO_ENABLED="0")
    return env


def run_checked(cmd: list, *, env: Optional[dict] = None, cwd: Optional[Path] = None,
                timeout: float = ng.CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                                  f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def go_programs(tmp_path_factory) -> GoPrograms:
    root = tmp_path_factory.mktemp("go")
    gopath = root / "go"
    src = gopath / "src"
    src.mkdir(parents=True)
    proto = ng.SOURCE_DIR / "proto"
    # protoc-gen-go 1.3.5 wants one Go package per run. descriptor.proto's own go_package names
    # APIv2 (not installed); map it to APIv1's copy, which golang-goprotobuf-dev ships.
    run_checked(["protoc", f"-I{proto}", f"--go_out=plugins=grpc:{src}", "api/dice.proto"])
    run_checked(["protoc", f"-I{proto}", f"-I{ng.PROTOBUF_INCLUDE}",
                 "--go_out=plugins=grpc,Mgoogle/protobuf/descriptor.proto="
                 f"github.com/golang/protobuf/protoc-gen-go/descriptor:{src}",
                 "nodegate/v1/options.proto", "nodegate/v1/identity.proto"])
    shutil.copytree(SEED_SERVER_SOURCES, src / "seedserver")
    shutil.copytree(SIG_CLIENT_SOURCES, src / "nodegate" / "interop" / "sig_client")
    bin_dir = root / "bin"
    bin_dir.mkdir()

    started = time.monotonic()
    run_checked(["go", "build", "-o", f"{bin_dir}/", "seedserver", "nodegate/interop/sig_client"],
                env=go_env(gopath), cwd=root, timeout=GO_BUILD_TIMEOUT_S)
    ng.record_metric("go_interop_build", time.monotonic() - started, "s",
                     "cold GOPATH build of seedserver + sig_client")
    return GoPrograms(bin_dir / "seedserver", bin_dir / "sig_client")


# ------------------------------------------------------------------------------------------------
# Certificates shared by the module


@dataclass
class Material:
    pki: ng.Pki
    server: ng.Issued
    client: ng.Issued           # CN=go-client
    other_ca_client: ng.Issued  # from an unrelated CA
    root: Path


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> Material:
    root = tmp_path_factory.mktemp("go_material")
    pki = ng.Pki(root / "pki").init()
    other = ng.Pki(root / "other-ca").init()
    return Material(pki, pki.issue("server", "server"), pki.issue("go-client", "client"),
                    other.issue("go-client", "client"), root)


# ================================================================================================
# (a) The seed-style Go server, called by `nodegate call dice`


class SeedServer:
    """bench/go/src/seedserver on an ephemeral port; it logs to stderr."""

    def __init__(self, binary: Path, material: Material, workdir: Path):
        self.stderr_path = workdir / "seedserver.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(binary), "-listen", f"{ng.HOST}:0", "-cert", str(material.server.cert),
                 "-key", str(material.server.key), "-ca", str(material.pki.ca)],
                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)

        def listening():
            m = LISTENING_RE.search(self.log())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"seedserver exited {self.proc.returncode}:\n{self.log()}")
            return None

        self.port = ng.wait_until(listening, ng.START_TIMEOUT_S, "the Go server's 'listening grpc=' line")

    @property
    def address(self) -> str:
        return f"{ng.HOST}:{self.port}"

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def calls_logged(self) -> list[str]:
        """The logging interceptor's lines, one per call that reached it."""
        return [line for line in self.log().splitlines() if " method=" in line]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=ng.EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=ng.EXIT_TIMEOUT_S)


@pytest.fixture
def go_server(go_programs, material, tmp_path):
    server = SeedServer(go_programs.seed_server, material, tmp_path)
    yield server
    server.stop()


def test_nodegate_call_dice_reaches_the_go_server_over_mtls(go_server, material):
    proc = ng.call_dice("--target", go_server.address, "--ca", material.pki.ca,
                        "--cert", material.client.cert, "--key", material.client.key,
                        "--show-peer", "-n", "5")

    calls = ng.parse_show_peer(proc.stdout)
    assert len(calls) == 5 and all(1 <= c.value <= 6 for c in calls), proc.stdout
    assert {c.cn for c in calls} == {"server"}
    assert {c.serial for c in calls} == {material.server.serial}
    # The logging interceptor saw each call, and each succeeded.
    logged = ng.wait_until(lambda: len(go_server.calls_logged()) == 5 and go_server.calls_logged(),
                           ng.RPC_TIMEOUT_S, "5 calls in the Go server's log")
    assert all(f"method={ROLL_DIE} " in line and line.endswith("err=<nil>") for line in logged), logged


def test_go_server_refuses_nodegate_call_without_a_client_certificate(go_server, material):
    proc = ng.call_dice("--target", go_server.address, "--ca", material.pki.ca, check=False)

    assert proc.returncode != 0, proc.stdout
    assert "call failed: UNAVAILABLE" in proc.stderr, proc.stderr
    assert go_server.calls_logged() == [], "no call may reach the interceptor without a certificate"


def test_go_server_refuses_a_client_certificate_from_another_ca(go_server, material):
    proc = ng.call_dice("--target", go_server.address, "--ca", material.pki.ca,
                        "--cert", material.other_ca_client.cert, "--key", material.other_ca_client.key,
                        check=False)

    assert proc.returncode != 0, proc.stdout
    assert "call failed: UNAVAILABLE" in proc.stderr, proc.stderr
    assert go_server.calls_logged() == []


# ================================================================================================
# (b) The Go client with v1 signatures, calling `nodegate serve`


ALGORITHMS = ["ed25519", "ecdsa-p256-sha256"]


# The example in docs/auth.md ("String to sign"): node dev-client calls RollDie on dev-node at
# 1763891234567 ms with nonce bytes 00..0f, signed with the RFC 8032 test 1 Ed25519 seed.
DOC_EXAMPLE_LENGTH = 97
DOC_EXAMPLE_SHA256 = "b26a26d41b0002dcb1cfafe92aeb4128941f7b03d65c704e70fafbc83dac8105"
DOC_EXAMPLE_ED25519 = ("aP7wb1oObGvMT25DkxHlCzOICkRxoZyTG0CdFSt5AWMWV5oOv7GWDkVnEEJDTJ8_ZUiOpubfGetzcJ6F"
                       "1JYIBg")


def test_go_client_signs_the_documented_example_byte_for_byte(go_programs):
    proc = run_checked([go_programs.sig_client, "-known-answer"])

    fields = dict(line.split("=", 1) for line in proc.stdout.split())
    assert fields == {"length": str(DOC_EXAMPLE_LENGTH), "sha256": DOC_EXAMPLE_SHA256,
                      "signature": DOC_EXAMPLE_ED25519}, proc.stdout


@dataclass
class GoResult:
    returncode: int
    stdout: str
    stderr: str
    user_agent: str

    @property
    def whoami(self) -> dict:
        m = WHOAMI_RE.match(self.stdout.strip())
        assert self.returncode == 0 and m, f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"
        return dict(zip(("kind", "id", "roles", "authenticators", "node"), m.groups()))

    @property
    def error(self) -> tuple[str, str]:
        m = ERROR_RE.match(self.stdout.strip())
        assert self.returncode == 1 and m, f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"
        return m.group(1), m.group(2)


@dataclass
class SignedNode:
    daemon: ng.Daemon
    material: Material
    client_binary: Path
    keys: dict  # alg -> (node id, private key PEM)

    def go(self, *args: str, alg: Optional[str] = None) -> GoResult:
        """Runs the Go client with mTLS (CN=go-client), signing as the `alg` node if given."""
        user_agent = f"go-interop-{uuid.uuid4().hex}"
        cmd = [str(self.client_binary), "-target", self.daemon.address, "-ca", str(self.material.pki.ca),
               "-cert", str(self.material.client.cert), "-key", str(self.material.client.key),
               "-server-name", ng.HOST, "-audience", NODE_ID, "-user-agent", user_agent]
        if alg is not None:
            node_id, key = self.keys[alg]
            cmd += ["-sign-key", str(key), "-node-id", node_id]
        proc = subprocess.run(cmd + list(args), capture_output=True, text=True,
                              timeout=ng.CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
        return GoResult(proc.returncode, proc.stdout, proc.stderr, user_agent)

    def log_entry(self, result: GoResult) -> dict:
        def found():
            return [e for e in self.daemon.access_log()
                    if e.get("user_agent", "").startswith(result.user_agent)]

        entries = ng.wait_until(found, ng.RPC_TIMEOUT_S, f"the access-log line of {result.user_agent}")
        assert len(entries) == 1, entries
        return entries[0]


@pytest.fixture
def signed_node(go_programs, material, tmp_path):
    """A node whose RollDie needs a signature from a node with role `dice`; one registered signing
    node per algorithm, keys made by `nodegate keys gen`."""
    config = ng.node_config(tmp_path, cert=material.server.cert, key=material.server.key,
                            ca=material.pki.ca)
    config.write_text(config.read_text() + '\n[[auth.rule]]\nmethod = "/api.DiceService/RollDie"\n'
                      'authenticators = ["signature"]\nroles = ["dice"]\n')
    keys = {}
    for alg in ALGORITHMS:
        node_id = f"go-signer-{alg.split('-')[0]}"
        ng.run_nodegate("keys", "gen", "--alg", alg, "--out", tmp_path / node_id)
        ng.run_nodegate("node", "add", "--config", config, "--id", node_id, "--alg", alg,
                        "--public-key", tmp_path / node_id / "signing-pub.pem", "--roles", "dice")
        keys[alg] = (node_id, tmp_path / node_id / "signing-key.pem")
    daemon = ng.Daemon(config, tmp_path / "daemon").start()
    try:
        daemon.wait_listening()
        yield SignedNode(daemon, material, go_programs.sig_client, keys)
    finally:
        daemon.stop()


def test_go_client_over_mtls_is_the_node_its_certificate_names(signed_node):
    result = signed_node.go()

    assert result.whoami == {"kind": "node", "id": "go-client", "roles": "", "authenticators": "mtls",
                             "node": NODE_ID}
    assert signed_node.log_entry(result)["principal"] == "node:go-client"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_go_client_signature_makes_it_the_signing_node(signed_node, alg):
    node_id, _ = signed_node.keys[alg]

    result = signed_node.go(alg=alg)

    assert result.whoami == {"kind": "node", "id": node_id, "roles": "dice",
                             "authenticators": "mtls,signature", "node": NODE_ID}
    assert signed_node.log_entry(result)["principal"] == f"node:{node_id}"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_go_client_signature_satisfies_a_signature_only_rule(signed_node, alg):
    result = signed_node.go("-call", "dice", alg=alg)

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.fullmatch(r"dice value=[1-6]", result.stdout.strip()), result.stdout


def test_go_client_without_a_signature_is_refused_by_a_signature_only_rule(signed_node):
    result = signed_node.go("-call", "dice")

    assert result.error[0] == "Unauthenticated", result.stdout
    assert signed_node.log_entry(result)["reason"].startswith("credential_not_accepted")


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("tamper", ["signature", "method"])
def test_go_client_tampered_signature_is_refused(signed_node, alg, tamper):
    result = signed_node.go("-tamper", tamper, alg=alg)

    # Fail closed: the valid client certificate does not rescue a call whose signature is bad.
    assert result.error == ("Unauthenticated", "signature: does not verify"), result.stdout
    assert signed_node.log_entry(result)["reason"].startswith("signature_invalid")


def test_go_client_signature_for_another_audience_is_refused(signed_node):
    result = signed_node.go("-audience", "some-other-node", alg="ed25519")

    assert result.error == ("Unauthenticated", "signature: does not verify"), result.stdout
