"""`cmake --install` and the CMake package (issue 15 §4, docs/install.md): the tree installs into a
scratch prefix, examples/own_service (a project of its own, outside this tree) configures against
it with find_package(nodegate), builds, and serves its own method greeter.v1.Greeter/Greet on
rpc::Server with the node's authorization — the node's config, certificates (from `nodegate pki`),
token store and [[auth.rule]] policy. A real grpcio client calls it over TLS/mTLS.

Cost: the install copies ~300 MB of static archives (RelWithDebInfo, not stripped); the example's
configure + build takes ~35 s cold, ~10 s with a warm ccache (its paths are made relative to the
scratch directory, so the cache hits across runs). The module: ~20 s warm, ~55 s cold.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import grpc
import pytest

import nodegate_testlib as ng

GREET = "/greeter.v1.Greeter/Greet"
EXAMPLE_DIR = ng.SOURCE_DIR / "examples" / "own_service"
LISTENING_RE = re.compile(r"own_service \S+ listening greeter=127\.0\.0\.1:(\d+)")
BUILD_TIMEOUT_S = 600


pytestmark = pytest.mark.skipif(
    ng.sanitized_build() is not None,
    reason=f"sanitized build ({ng.sanitized_build()}): its static archives do not link into a "
           "plain out-of-tree program")


def run(cmd: list, *, env: Optional[dict] = None, cwd: Optional[Path] = None,
        timeout: float = BUILD_TIMEOUT_S) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n" \
                                 f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@dataclass
class Installed:
    prefix: Path
    example: Path  # the built own_service binary
    stubs: object  # greeter_pb2


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("packaging")
    prefix = root / "prefix"
    run(["cmake", "--install", ng.BUILD_DIR, "--prefix", prefix])
    for path in ["bin/nodegate", "lib/cmake/nodegate/nodegateConfig.cmake",
                 "lib/cmake/nodegate/nodegateConfigVersion.cmake", "lib/libnodegate_rpc.a",
                 "include/nodegate/rpc/server.h", "include/nodegate/nodegate/v1/options.pb.h",
                 "include/nodegate/nodegate/v1/options.proto"]:
        assert (prefix / path).exists(), f"cmake --install did not install {path}"

    build = root / "build"
    env = dict(os.environ)
    launcher = []
    if shutil.which("ccache"):
        # Scratch paths differ per run; relative to CCACHE_BASEDIR they do not.
        env.update(CCACHE_BASEDIR=str(root), CCACHE_NOHASHDIR="1")
        launcher = ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run(["cmake", "-S", EXAMPLE_DIR, "-B", build, *generator, f"-DCMAKE_PREFIX_PATH={prefix}",
         "-DCMAKE_BUILD_TYPE=Release", *launcher], env=env)
    run(["cmake", "--build", build, "-j", "2"], env=env)
    example = build / "own_service"
    assert example.is_file()

    stubs_dir = root / "stubs"
    stubs_dir.mkdir()
    run([sys.executable, "-m", "grpc_tools.protoc", f"-I{EXAMPLE_DIR / 'proto'}",
         f"-I{prefix / 'include' / 'nodegate'}", "-I/usr/include", f"--python_out={stubs_dir}",
         "greeter/v1/greeter.proto", "nodegate/v1/options.proto"])
    sys.path.insert(0, str(stubs_dir))
    importlib.invalidate_caches()
    return Installed(prefix, example, importlib.import_module("greeter.v1.greeter_pb2"))


@dataclass
class Material:
    pki: ng.Pki
    server: ng.Issued  # SANs 127.0.0.1, localhost
    client: ng.Issued  # CN greeter-client, not registered as a node


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> Material:
    pki = ng.Pki(tmp_path_factory.mktemp("packaging_pki") / "pki").init()
    return Material(pki, pki.issue("greeter-server", "server"),
                    pki.issue("greeter-client", "client"))


class OwnService:
    """One own_service process on 127.0.0.1:0 with the node config `config`."""

    def __init__(self, binary: Path, config: Path, workdir: Path):
        self.stderr_path = workdir / "own_service.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([str(binary), "--config", str(config)],
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=workdir)

        def listening():
            m = LISTENING_RE.search(self.stderr())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"own_service exited {self.proc.returncode}:\n{self.stderr()}")
            return None

        self.port = ng.wait_until(listening, ng.START_TIMEOUT_S, "own_service's listening line")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=ng.EXIT_TIMEOUT_S)


@pytest.fixture
def start(tmp_path, installed, material):
    """start(rules="") -> (OwnService, node config): a node config whose TLS files come from
    `nodegate pki`, client_auth "request" (so a caller without a certificate reaches the
    Authorizer), a token for alice (role greeter) and bob (role other) in its store."""
    services = []

    def make(rules: str = ""):
        m = material
        directory = tmp_path / f"node{len(services)}"
        directory.mkdir()
        config = ng.node_config(directory, cert=m.server.cert, key=m.server.key, ca=m.pki.ca,
                                client_auth="request")
        config.write_text(config.read_text() + "\n" + rules)
        tokens = {"alice": ng.create_token(config, "alice", "greeter"),
                  "bob": ng.create_token(config, "bob", "other")}
        service = OwnService(installed.example, config, config.parent)
        services.append(service)
        return service, tokens

    yield make
    for service in services:
        assert service.stop() == 0, service.stderr()


def greet(installed: Installed, material: Material, port: int, *, cert: Optional[ng.Issued] = None,
          token: Optional[str] = None):
    """(status code, details, response) of one Greet call on a fresh TLS connection."""
    creds = ng.channel_credentials(material.pki.ca, cert.cert if cert else None,
                                   cert.key if cert else None)
    pb = installed.stubs
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with ng.fresh_channel(f"{ng.HOST}:{port}", creds) as channel:
        rpc = channel.unary_unary(GREET, request_serializer=pb.GreetRequest.SerializeToString,
                                  response_deserializer=pb.GreetResponse.FromString)
        try:
            response = rpc(pb.GreetRequest(name="world"), metadata=metadata,
                           timeout=ng.RPC_TIMEOUT_S)
            return grpc.StatusCode.OK, "", response
        except grpc.RpcError as err:
            return err.code(), err.details() or "", None


def test_the_installed_package_builds_an_own_service_that_serves_mtls_callers(installed, material,
                                                                              start):
    service, _ = start()
    client = material.client

    code, details, response = greet(installed, material, service.port, cert=client)

    assert code == grpc.StatusCode.OK, details
    assert (response.greeting, response.caller) == ("hello, world", "node:greeter-client")


def test_own_service_refuses_a_caller_without_credentials(installed, material, start):
    service, _ = start()

    code, details, _ = greet(installed, material, service.port)

    assert code == grpc.StatusCode.UNAUTHENTICATED, (code, details)
    assert "no credential" in details, details


def test_own_service_takes_tokens_from_the_nodes_store_and_refuses_a_wrong_one(installed, material,
                                                                               start):
    service, tokens = start()

    code, details, response = greet(installed, material, service.port, token=tokens["alice"])
    wrong, wrong_details, _ = greet(installed, material, service.port, token=tokens["alice"] + "x")

    assert code == grpc.StatusCode.OK, details
    assert response.caller == "user:alice"
    assert wrong == grpc.StatusCode.UNAUTHENTICATED, (wrong, wrong_details)


def test_a_config_rule_overrides_the_proto_option_and_needs_its_role(installed, material, start):
    service, tokens = start('[[auth.rule]]\nmethod = "/greeter.v1.Greeter/Greet"\n'
                            'authenticators = ["token"]\nroles = ["greeter"]\n')
    client = material.client

    with_role = greet(installed, material, service.port, token=tokens["alice"])
    without_role = greet(installed, material, service.port, token=tokens["bob"])
    certificate_only = greet(installed, material, service.port, cert=client)

    assert with_role[0] == grpc.StatusCode.OK, with_role[1]
    assert without_role[0] == grpc.StatusCode.PERMISSION_DENIED, without_role[:2]
    # The proto option accepts mtls; the config's rule does not.
    assert certificate_only[0] == grpc.StatusCode.UNAUTHENTICATED, certificate_only[:2]
