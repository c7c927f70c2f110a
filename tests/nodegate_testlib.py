"""Helpers shared by the end-to-end and interop suites.

Everything here drives the real `nodegate` binary (env NODEGATE_BIN) and talks to it with real clients:
grpcio with stubs generated from the repository's .proto files, Python's `ssl` for looking at the served
certificate, and `cryptography` for reading what `nodegate pki` wrote. Nothing is mocked.

Waiting is always "poll until a condition holds, fail at a deadline" (`wait_until`), never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TypeVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes

SOURCE_DIR = Path(os.environ.get("NODEGATE_SOURCE_DIR", Path(__file__).resolve().parent.parent))
NODEGATE_BIN = Path(os.environ.get("NODEGATE_BIN", SOURCE_DIR / "build" / "nodegate"))
BUILD_DIR = Path(os.environ.get("NODEGATE_BUILD_DIR", NODEGATE_BIN.parent))
HOST = "127.0.0.1"

# Generous but finite: the machine may be busy compiling on both cores while the suite runs.
START_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 20.0
CLI_TIMEOUT_S = 60.0
RPC_TIMEOUT_S = 5.0

LISTENING_RE = re.compile(r"listening grpc=127\.0\.0\.1:(\d+)")

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------
# Waiting


class DeadlineExceeded(AssertionError):
    pass


def wait_until(predicate: Callable[[], Optional[T]], timeout: float, what: str,
               interval: float = 0.05) -> T:
    """Polls `predicate` until it returns something truthy and returns that; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - remembered for the failure message
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise DeadlineExceeded(f"timed out after {timeout:.1f}s waiting for {what}{detail}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------
# The CLI


def run_nodegate(*args: str | os.PathLike, check: bool = True,
                 timeout: float = CLI_TIMEOUT_S, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Runs `nodegate ARGS...` to completion; with check=True a non-zero exit fails the test verbosely."""
    cmd = [str(NODEGATE_BIN), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def parse_inspect(text: str) -> dict[str, str]:
    """`nodegate pki inspect` prints `key: value` lines."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


@dataclass
class Issued:
    cert: Path
    key: Path

    def load(self) -> x509.Certificate:
        return load_cert(self.cert)

    @property
    def serial(self) -> int:
        return self.load().serial_number


class Pki:
    """A CA directory managed by `nodegate pki`."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca-key.pem"

    @property
    def crl(self) -> Path:
        return self.dir / "crl.pem"

    def init(self, *extra: str) -> "Pki":
        run_nodegate("pki", "init", "--dir", self.dir, *extra)
        return self

    def issue(self, name: str, kind: str, *extra: str, out_dir: Optional[Path] = None) -> Issued:
        assert kind in ("server", "client")
        args = ["pki", "issue", "--dir", self.dir, "--name", name, f"--{kind}", *extra]
        if kind == "server" and not any(a == "--san" for a in extra):
            args += ["--san", "127.0.0.1,localhost"]
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            args += ["--out-dir", out_dir]
        run_nodegate(*args)
        where = out_dir or self.dir
        return Issued(where / f"{name}.pem", where / f"{name}-key.pem")

    def revoke(self, issued: Issued) -> None:
        run_nodegate("pki", "revoke", "--dir", self.dir, "--cert", issued.cert)

    def write_crl(self) -> None:
        run_nodegate("pki", "crl", "--dir", self.dir)


# --------------------------------------------------------------------------------------------------
# Certificates and files


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def serial_hex(serial: int) -> str:
    """Uppercase hex in whole bytes, as `openssl x509 -serial` and `nodegate pki inspect` print it
    (a serial whose top nibble is 0 keeps its leading zero)."""
    digits = format(serial, "X")
    return digits if len(digits) % 2 == 0 else "0" + digits


def replace_atomically(src: Path, dst: Path) -> None:
    """Copies src over dst the way an operator should: write a temp file beside dst, then rename."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.write_bytes(Path(src).read_bytes())
    os.chmod(tmp, 0o600)
    os.replace(tmp, dst)


def install_pair(issued: Issued, cert_dst: Path, key_dst: Path) -> None:
    """Puts a new cert/key pair into the configured paths: key first, then cert, each atomically.

    Between the two renames the files on disk do not match; the daemon validates a set before it goes
    live, so that window must not break anything."""
    replace_atomically(issued.key, key_dst)
    replace_atomically(issued.cert, cert_dst)


def served_certificate(port: int, ca: Path, cert: Optional[Path] = None, key: Optional[Path] = None,
                       server_name: str = HOST) -> x509.Certificate:
    """Opens a fresh TLS connection (ALPN h2, like gRPC) and returns the server's leaf certificate.

    The chain and host name are verified against `ca` from the client side."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.set_alpn_protocols(["h2"])
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    with socket.create_connection((HOST, port), timeout=RPC_TIMEOUT_S) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


def sha256_fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


# --------------------------------------------------------------------------------------------------
# Config files


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))  # a TOML basic string is a JSON string for our values


def write_toml(path: Path, tables: dict[str, dict]) -> Path:
    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        for key, value in values.items():
            if value is not None:
                lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    Path(path).write_text("\n".join(lines))
    return Path(path)


def node_config(directory: Path, *, cert: Path, key: Path, ca: Path, crl: Optional[Path] = None,
                client_auth: str = "require", reload_interval: str = "1s",
                access_log: str = "stdout", listen: str = f"{HOST}:0", name: str = "node.toml",
                extra: Optional[dict[str, dict]] = None) -> Path:
    """Writes a node config; paths are made relative to the config's directory when they are inside it,
    so the test also exercises relative-path resolution."""
    directory = Path(directory)

    def rel(p: Optional[Path]) -> Optional[str]:
        if p is None:
            return None
        p = Path(p)
        try:
            return str(p.relative_to(directory))
        except ValueError:
            return str(p)

    tables = {
        "node": {"id": "e2e-node", "data_dir": "data"},
        "grpc": {"listen": listen, "shutdown_grace": "5s"},
        "tls": {"cert": rel(cert), "key": rel(key), "ca": rel(ca), "client_auth": client_auth,
                "crl": rel(crl), "reload_interval": reload_interval},
        "log": {"level": "info", "access_log": access_log},
    }
    for table, values in (extra or {}).items():
        tables.setdefault(table, {}).update(values)
    return write_toml(directory / name, tables)


def client_config(path: Path, *, target: str, ca: Path, cert: Path, key: Path,
                  server_name: Optional[str] = None) -> Path:
    return write_toml(path, {"client": {"target": target, "ca": str(ca), "cert": str(cert),
                                        "key": str(key), "server_name": server_name}})


# --------------------------------------------------------------------------------------------------
# The daemon


# The engine under test (rpc::Engine): ctest runs the e2e, interop and fault suites once as they
# are (engine "grpc", the default) and once more with NODEGATE_TEST_ENGINE=h2 (tests/CMakeLists.txt),
# which every daemon started through Daemon gets in its [grpc] table unless the config names one.
TEST_ENGINE = os.environ.get("NODEGATE_TEST_ENGINE", "")


def with_test_engine(config_text: str, engine: str = TEST_ENGINE) -> str:
    """The config with `engine` set in [grpc] (added after the table's header, or as a new table)."""
    if not engine or re.search(r"(?m)^\s*engine\s*=", config_text):
        return config_text
    line = f'engine = "{engine}"'
    m = re.search(r"(?m)^\[grpc\][ \t]*$", config_text)
    if m is None:
        return config_text.rstrip("\n") + f"\n\n[grpc]\n{line}\n"
    return config_text[:m.end()] + "\n" + line + config_text[m.end():]


class Daemon:
    """One `nodegate serve` process with stdout and stderr captured to files (no pipe can fill up)."""

    def __init__(self, config: Path, workdir: Path):
        self.config = Path(config)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.workdir / "daemon.stdout"
        self.stderr_path = self.workdir / "daemon.stderr"
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None

    def apply_test_engine(self) -> None:
        """Puts NODEGATE_TEST_ENGINE into the config, as every start must (subclasses too)."""
        if TEST_ENGINE and self.config.exists():
            text = self.config.read_text()
            engined = with_test_engine(text)
            if engined != text:
                self.config.write_text(engined)

    def start(self) -> "Daemon":
        self.apply_test_engine()
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([str(NODEGATE_BIN), "serve", "--config", str(self.config)],
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir)
        return self

    def wait_listening(self, timeout: float = START_TIMEOUT_S) -> int:
        def listening():
            m = LISTENING_RE.search(self.stderr())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"nodegate serve exited {self.proc.returncode} before listening:\n"
                                     f"{self.stderr()}")
            return None

        try:
            self.port = wait_until(listening, timeout, "the 'listening grpc=' line")
        except DeadlineExceeded as exc:
            raise AssertionError(f"{exc}\nstderr so far:\n{self.stderr()}") from None
        assert self.port > 0, "the daemon must report the port it actually bound, not 0"
        return self.port

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Teardown: SIGTERM, then SIGKILL if it does not go; never leaves the process behind.

        SIGTERM drains and exits 0 (docs/config.md); any other exit fails the test. On a sanitized
        build that is how an error at shutdown or a leak found by LeakSanitizer at exit shows up
        (tests/conftest.py also collects the report itself)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=EXIT_TIMEOUT_S)
            return
        if code != 0:
            raise AssertionError(f"nodegate serve exited {code} after SIGTERM (expected 0):\n"
                                 f"{self.stderr()[-4000:]}")

    def access_log(self, source: Optional[Path] = None) -> list[dict]:
        """Parses the JSON access-log lines (stdout by default); non-JSON lines are ignored."""
        text = Path(source).read_text() if source else self.stdout()
        entries = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    entries.append(json.loads(line))
        return entries


def run_to_exit(config: Path, workdir: Path, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Runs `nodegate serve` expecting it to fail at start-up; fails the test if it keeps running."""
    cmd = [str(NODEGATE_BIN), "serve", "--config", str(config)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:  # subprocess.run has already killed it
        raise AssertionError(f"nodegate serve kept running with a bad config; stderr:\n{exc.stderr}") from None


# --------------------------------------------------------------------------------------------------
# A running mTLS node


@dataclass
class SecureNode:
    """A running node with mTLS required, plus the credentials to reach it."""

    pki: Pki
    server: Issued          # the files the config points at (replaced in place by reload tests)
    client: Issued
    config: Path
    daemon: Daemon
    client_toml: Path

    @property
    def address(self) -> str:
        return self.daemon.address

    @property
    def port(self) -> int:
        return self.daemon.port

    def client_creds(self, client: Issued | None = None):
        client = client or self.client
        return channel_credentials(self.pki.ca, client.cert, client.key)

    def call_args(self, client: Issued | None = None) -> list[str]:
        client = client or self.client
        return ["--target", self.address, "--ca", str(self.pki.ca), "--cert", str(client.cert),
                "--key", str(client.key)]

    def served_serial(self) -> int:
        return served_certificate(self.port, self.pki.ca, self.client.cert,
                                     self.client.key).serial_number


def make_secure_node(tmp_path: Path, pki: Pki, start_node, *, with_crl: bool = False,
                     reload_interval: str = "1s", client_auth: str = "require",
                     extra_toml: str = "") -> SecureNode:
    server = pki.issue("server", "server")
    client = pki.issue("dev-client", "client")
    crl = None
    if with_crl:
        pki.write_crl()
        crl = pki.crl
    config = node_config(tmp_path, cert=server.cert, key=server.key, ca=pki.ca, crl=crl,
                            reload_interval=reload_interval, client_auth=client_auth)
    if extra_toml:
        config.write_text(config.read_text() + "\n" + extra_toml)
    daemon = start_node(config)
    client_toml = client_config(tmp_path / "client.toml", target=daemon.address, ca=pki.ca,
                                   cert=client.cert, key=client.key)
    return SecureNode(pki, server, client, config, daemon, client_toml)


# --------------------------------------------------------------------------------------------------
# gRPC clients (Python grpcio, stubs generated from the repository's protos)

@dataclass
class Stubs:
    dice_pb2: object
    dice_pb2_grpc: object
    health_pb2: object
    health_pb2_grpc: object
    reflection_pb2: object
    reflection_pb2_grpc: object


_generated_lock = threading.Lock()


def generate_stubs(out_dir: Path) -> Stubs:
    """Generates Python code with Debian's grpc_tools from the repository's proto/api/dice.proto and
    its grpc.health.v1 and grpc.reflection.v1alpha protos (Debian ships no grpc_health or
    grpc_reflection package). Each is compiled from its own folder, so the modules are flat
    (health_pb2, not grpc.health.v1.health_pb2, which would collide with the grpc package)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = [SOURCE_DIR / "proto" / "api" / "dice.proto",
              SOURCE_DIR / "proto" / "grpc" / "health" / "v1" / "health.proto",
              SOURCE_DIR / "proto" / "grpc" / "reflection" / "v1alpha" / "reflection.proto"]
    for path in protos:
        assert path.is_file(), f"missing {path}"
    for include, proto in ((p.parent, p.name) for p in protos):
        proc = subprocess.run(
            ["/usr/bin/python3", "-m", "grpc_tools.protoc", f"-I{include}", f"--python_out={out_dir}",
             f"--grpc_python_out={out_dir}", proto],
            capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        assert proc.returncode == 0, f"grpc_tools.protoc {proto} failed:\n{proc.stderr}"
    with _generated_lock:
        if str(out_dir) not in sys.path:
            sys.path.insert(0, str(out_dir))
        importlib.invalidate_caches()
        mods = [importlib.import_module(m)
                for m in ("dice_pb2", "dice_pb2_grpc", "health_pb2", "health_pb2_grpc",
                          "reflection_pb2", "reflection_pb2_grpc")]
    return Stubs(*mods)


@dataclass
class IdentityStubs:
    identity_pb2: object
    identity_pb2_grpc: object
    options_pb2: object


PROTOBUF_INCLUDE = Path("/usr/include")  # google/protobuf/descriptor.proto from libprotobuf-dev


def generate_identity_stubs(out_dir: Path) -> IdentityStubs:
    """Generates Python code for proto/nodegate/v1/identity.proto (and the options.proto it imports, which
    imports google/protobuf/descriptor.proto) with Debian's grpc_tools; importable as nodegate.v1.*."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    proto_root = SOURCE_DIR / "proto"
    for proto in ("nodegate/v1/options.proto", "nodegate/v1/identity.proto"):
        assert (proto_root / proto).is_file(), f"missing {proto_root / proto}"
    proc = subprocess.run(
        ["/usr/bin/python3", "-m", "grpc_tools.protoc", f"-I{proto_root}", f"-I{PROTOBUF_INCLUDE}",
         f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
         "nodegate/v1/options.proto", "nodegate/v1/identity.proto"],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert proc.returncode == 0, f"grpc_tools.protoc identity.proto failed:\n{proc.stderr}"
    with _generated_lock:
        if str(out_dir) not in sys.path:
            sys.path.insert(0, str(out_dir))
        importlib.invalidate_caches()
        mods = [importlib.import_module(m) for m in ("nodegate.v1.identity_pb2",
                                                     "nodegate.v1.identity_pb2_grpc",
                                                     "nodegate.v1.options_pb2")]
    return IdentityStubs(*mods)


def channel_credentials(ca: Path, cert: Optional[Path] = None, key: Optional[Path] = None):
    root = Path(ca).read_bytes()
    if cert is None:
        return grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.ssl_channel_credentials(root, Path(key).read_bytes(), Path(cert).read_bytes())


@contextlib.contextmanager
def fresh_channel(address: str, creds, server_name: Optional[str] = None):
    """A channel with its own subchannel pool, so every use is a new TCP+TLS connection (grpcio would
    otherwise share connections between channels with equal arguments)."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    channel = grpc.secure_channel(address, creds, options=options)
    try:
        yield channel
    finally:
        channel.close()


def roll_die(stubs: Stubs, address: str, creds, server_name: Optional[str] = None) -> int:
    with fresh_channel(address, creds, server_name) as channel:
        stub = stubs.dice_pb2_grpc.DiceServiceStub(channel)
        return stub.RollDie(stubs.dice_pb2.RollDieRequest(), timeout=RPC_TIMEOUT_S).value


def roll_die_error(stubs: Stubs, address: str, creds) -> Optional[grpc.StatusCode]:
    """The status code of a RollDie on a fresh connection, or None if it succeeded."""
    try:
        roll_die(stubs, address, creds)
        return None
    except grpc.RpcError as err:
        return err.code()


# --------------------------------------------------------------------------------------------------
# `nodegate call dice`

CALL_LINE_RE = re.compile(r"^value=(\d+) server_serial=([0-9A-Fa-f:]+) server_cn=(\S*)$")
CALL_FAILED_RE = re.compile(r"call failed: ([A-Z_]+): ")


@dataclass
class PeerCall:
    value: int
    serial: int
    cn: str


def call_dice(*args: str | os.PathLike, check: bool = True) -> subprocess.CompletedProcess:
    return run_nodegate("call", "dice", *args, check=check)


def parse_show_peer(stdout: str) -> list[PeerCall]:
    calls = []
    for line in stdout.splitlines():
        m = CALL_LINE_RE.match(line.strip())
        assert m, f"unexpected `call dice --show-peer` line: {line!r}"
        calls.append(PeerCall(int(m.group(1)), int(m.group(2).replace(":", ""), 16), m.group(3)))
    return calls


# --------------------------------------------------------------------------------------------------
# Metrics


def record_metric(name: str, value: float, unit: str, note: str = "") -> None:
    """Appends a measurement to $NODEGATE_BUILD_DIR/e2e-metrics.txt (pytest's stdout is not shown)."""
    path = BUILD_DIR / "e2e-metrics.txt"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{stamp} {name}={value:.3f}{unit}" + (f" {note}" if note else "") + "\n"
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(line)


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text)
    assert m, text
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m.group(2)]


# ==================================================================================================
# BEGIN registry / ports / kv block (tests/e2e/test_registry.py, test_ports.py, test_kv.py)
# Additive only: stubs for the nodegate.v1 services and helpers for a node that enrols others.


@dataclass
class V1Stubs:
    """Modules for proto/nodegate/v1/{identity,registry,port,kv}.proto (as nodegate.v1.*)."""
    identity_pb2: object
    identity_pb2_grpc: object
    registry_pb2: object
    registry_pb2_grpc: object
    port_pb2: object
    port_pb2_grpc: object
    kv_pb2: object
    kv_pb2_grpc: object


V1_PROTOS = ("options", "identity", "registry", "port", "kv")


def generate_v1_stubs(out_dir: Path) -> V1Stubs:
    """Generates all nodegate.v1 services into one directory with Debian's grpc_tools (options.proto
    imports google/protobuf/descriptor.proto, found under /usr/include)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    proto_root = SOURCE_DIR / "proto"
    protos = [f"nodegate/v1/{name}.proto" for name in V1_PROTOS]
    for proto in protos:
        assert (proto_root / proto).is_file(), f"missing {proto_root / proto}"
    proc = subprocess.run(
        ["/usr/bin/python3", "-m", "grpc_tools.protoc", f"-I{proto_root}", "-I/usr/include",
         f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *protos],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert proc.returncode == 0, f"grpc_tools.protoc nodegate/v1 failed:\n{proc.stderr}"
    with _generated_lock:
        if str(out_dir) not in sys.path:
            sys.path.insert(0, str(out_dir))
        importlib.invalidate_caches()
        mods = [importlib.import_module(f"nodegate.v1.{name}{suffix}")
                for name in V1_PROTOS[1:] for suffix in ("_pb2", "_pb2_grpc")]
    return V1Stubs(*mods)


def registry_toml(pki: Pki, **settings) -> str:
    """A [registry] table that lets the node sign joining nodes' certificates with `pki`'s CA."""
    values = {"ca_cert": str(pki.ca), "ca_key": str(pki.ca_key), **settings}
    return "[registry]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())


@dataclass
class Invitation:
    token: str
    ca_fingerprint: str


def add_node_request(v1: "V1Stubs", token: str, node_id: str, csr_pem: Optional[str] = None):
    """An AddNodeRequest for `node_id` with a fresh Ed25519 signing key and a fresh P-256 CSR
    (or `csr_pem` as given, to send a malformed one)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    signing = ed25519.Ed25519PrivateKey.generate()
    tls_key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")]))
           .sign(tls_key, hashes.SHA256()))
    return v1.registry_pb2.AddNodeRequest(
        join_token=token, node_id=node_id, algorithm="ed25519",
        public_key_pem=signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        csr_pem=csr_pem if csr_pem is not None else csr.public_bytes(
            serialization.Encoding.PEM).decode())


def invite(config: Path, node_id: str, *extra: str) -> Invitation:
    """`nodegate node invite`: stdout is `token=...` and `ca_fingerprint=...`."""
    out = run_nodegate("node", "invite", "--config", config, "--id", node_id, *extra).stdout
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert fields.get("token", "").startswith("ngj_"), f"unexpected invite output:\n{out}"
    assert re.fullmatch(r"[0-9a-f]{64}", fields.get("ca_fingerprint", "")), out
    return Invitation(fields["token"], fields["ca_fingerprint"])


def join(address: str, invitation: Invitation, node_id: str, directory: Path, *extra: str,
         ca_fingerprint: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess:
    """`nodegate join` against the registry at `address` (its certificate names localhost)."""
    return run_nodegate("join", "--server", address, "--token", invitation.token, "--id", node_id,
                        "--dir", directory, "--ca-fingerprint",
                        ca_fingerprint or invitation.ca_fingerprint, "--server-name", "localhost",
                        *extra, check=check)


def registered_nodes(config: Path) -> list[str]:
    """Node ids from `nodegate node list` (a header line, then one tab-separated row per node)."""
    out = run_nodegate("node", "list", "--config", config).stdout
    return [line.split("\t")[0] for line in out.splitlines()[1:] if line.strip()]


def create_token(config: Path, principal: str, roles: str) -> str:
    """`nodegate token create`: stdout is the token alone (the explanation goes to stderr)."""
    token = run_nodegate("token", "create", "--config", config, "--principal", principal,
                         "--roles", roles).stdout.strip()
    assert token and "\n" not in token, f"unexpected `token create` output: {token!r}"
    return token


def free_port_block(count: int, low: int = 20000, high: int = 32000) -> int:
    """The first port of `count` consecutive ports, below the kernel's ephemeral range, that are all
    bindable on 127.0.0.1 right now. The start is random, so concurrent suites rarely overlap."""
    import random  # noqa: PLC0415 - only this helper needs it

    for _ in range(200):
        first = random.randrange(low, high - count)
        if all(port_bindable(p) for p in range(first, first + count)):
            return first
    raise AssertionError(f"no block of {count} free ports in {low}..{high}")


def port_bindable(port: int, host: str = HOST, *, reuse_address: bool = False) -> bool:
    """Whether a socket can bind host:port now. With reuse_address (SO_REUSEADDR, as every server
    here sets it), only a listener blocks the port: connections that were closed and wait in
    TIME_WAIT do not, so "nothing is left listening" is checked without racing TCP's teardown."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if reuse_address:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False

# END registry / ports / kv block
# ==================================================================================================


# ==================================================================================================
# BEGIN tunnel / echo / xmlrpc block (tests/e2e/test_tunnel.py, test_echo.py, test_xmlrpc.py)
# Additive only: long-running `nodegate tunnel|echo` processes, plain backends, TLS client helpers.

PROXY_LISTENING_RE = {
    "tunnel": re.compile(r"listening tunnel=127\.0\.0\.1:(\d+)"),
    "echo": re.compile(r"listening echo=127\.0\.0\.1:(\d+)"),
}
XMLRPC_LISTENING_RE = re.compile(r"listening xmlrpc=127\.0\.0\.1:(\d+)")
CONN_LINE_RE = re.compile(
    r"conn=(\d+) peer=(\S+) identity=\"([^\"]*)\" up=(\d+) down=(\d+) duration=([\d.]+)s close=(.*)$")


class ProxyProcess:
    """One `nodegate tunnel server|client` or `nodegate echo` process; stderr captured to a file."""

    def __init__(self, kind: str, args: list, workdir: Path, name: str):
        assert kind in PROXY_LISTENING_RE
        self.kind = kind
        self.args = [str(a) for a in args]
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.workdir / f"{name}.stderr"
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None

    def start(self, wait: bool = True) -> "ProxyProcess":
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([str(NODEGATE_BIN), *self.args], stdout=subprocess.DEVNULL,
                                         stderr=err, stdin=subprocess.DEVNULL, cwd=self.workdir)
        if wait:
            self.wait_listening()
        return self

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_listening(self, timeout: float = START_TIMEOUT_S) -> int:
        def listening():
            m = PROXY_LISTENING_RE[self.kind].search(self.stderr())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"nodegate {' '.join(self.args[:2])} exited {self.proc.returncode}"
                                     f" before listening:\n{self.stderr()}")
            return None

        self.port = wait_until(listening, timeout, f"the 'listening {self.kind}=' line")
        return self.port

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def connection_lines(self) -> list[dict]:
        """The per-connection log lines, parsed."""
        out = []
        for line in self.stderr().splitlines():
            m = CONN_LINE_RE.search(line)
            if m:
                out.append({"conn": int(m.group(1)), "peer": m.group(2), "identity": m.group(3),
                            "up": int(m.group(4)), "down": int(m.group(5)),
                            "duration": float(m.group(6)), "close": m.group(7)})
        return out

    def wait_connection_lines(self, count: int, timeout: float = RPC_TIMEOUT_S * 2) -> list[dict]:
        return wait_until(lambda: (lambda l: l if len(l) >= count else None)(self.connection_lines()),
                          timeout, f"{count} connection log line(s) from nodegate {self.kind}")

    def stop(self) -> Optional[int]:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=EXIT_TIMEOUT_S)
            raise AssertionError(f"nodegate {self.kind} ignored SIGTERM:\n{self.stderr()}")


def tunnel_server_args(listen: str, target: str, pki: Pki, server: Issued, *extra) -> list:
    """Without an --allow-* flag in `extra`, --allow-all (the server refuses to start with neither)."""
    allow = [] if any(str(e).startswith("--allow-") for e in extra) else ["--allow-all"]
    return ["tunnel", "server", "--listen", listen, "--target", target, "--cert", server.cert,
            "--key", server.key, "--ca", pki.ca, *allow, *extra]


def tunnel_client_args(listen: str, target: str, pki: Pki, client: Issued, *extra) -> list:
    return ["tunnel", "client", "--listen", listen, "--target", target, "--cert", client.cert,
            "--key", client.key, "--ca", pki.ca, *extra]


def tls_client_context(ca: Path, cert: Optional[Path] = None, key: Optional[Path] = None) -> ssl.SSLContext:
    """Verifies the server against `ca` (and its name); presents `cert` when given."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise AssertionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_until_eof(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    buf = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(buf)
        buf += chunk
        assert len(buf) <= limit, "more data than expected"


class ThreadedServer:
    """A plain TCP/HTTP backend run in this process on an ephemeral loopback port (socketserver or
    SimpleXMLRPCServer); stopped in teardown."""

    def __init__(self, server):
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> "ThreadedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=EXIT_TIMEOUT_S)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.server.server_address[1]}"

# END tunnel / echo / xmlrpc block
# ==================================================================================================


# ==================================================================================================
# BEGIN postgres block (tests/e2e/test_fleet.py; issue 14)
# Additive only: a private PostgreSQL server for replicas that share one store.

PG_BIN_DIR = Path(os.environ.get("NODEGATE_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_SUPERUSER = "postgres"
PG_START_TIMEOUT_S = 60.0
PG_STOP_TIMEOUT_S = 30.0


class PostgresServer:
    """A real, private PostgreSQL server for one test module, the Python twin of
    tests/testlib/testlib/postgres_server.{h,cc} (no mock database anywhere).

    Debian's server binaries (package `postgresql`, installed by scripts/install-deps) run from a
    fresh directory under the system temp dir (not pytest's tmp_path: /tmp/pytest-of-root is 0700,
    and the server runs as another user) on a free loopback port, with the unix socket inside that
    directory and trust authentication (initdb -A trust: 127.0.0.1 needs no password, so no url
    carries one). PostgreSQL refuses to run as root, so under root initdb and the server run as the
    `postgres` user through `setpriv`, and the directory is chowned to it.

    The postmaster is started directly as our child, not daemonised by `pg_ctl start`: with
    `setpriv --pdeathsig SIGQUIT` (PostgreSQL's immediate shutdown) it dies with the thread that
    started it, so a pytest killed by ctest's timeout leaves no server behind. Start it, and
    restart it, from the test's main thread. `start()` waits like `pg_ctl start -w` (until it
    accepts connections); `restart()` is `pg_ctl restart -m fast`: a fast shutdown (SIGINT: sessions
    are ended, a checkpoint written) and a start on the same port and data; `stop()` is the fast
    shutdown alone. `close()` (the fixture's finalizer) stops it and removes the directory.
    """

    def __init__(self, durable: bool = False) -> None:
        """`durable`: keep PostgreSQL's fsync (a benchmark's figures must include it); tests run
        without it."""
        self.dir: Optional[Path] = None
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self._durable = durable
        self._switch_user = os.geteuid() == 0
        self._databases = 0

    # -- availability --

    @staticmethod
    def unavailable() -> Optional[str]:
        """Why no server can be started here (a reason to skip), or None."""
        for binary in ("initdb", "postgres", "pg_isready", "psql"):
            if not os.access(PG_BIN_DIR / binary, os.X_OK):
                return (f"PostgreSQL binary {PG_BIN_DIR / binary} is missing; run scripts/install-deps "
                        "(it installs the postgresql package), or set NODEGATE_PG_BIN to the "
                        "directory holding initdb, postgres, pg_isready and psql")
        if os.geteuid() == 0:
            import pwd  # noqa: PLC0415 - only needed as root

            try:
                pwd.getpwnam(PG_SUPERUSER)
            except KeyError:
                return ("running as root, and there is no `postgres` user to run PostgreSQL as "
                        "(PostgreSQL refuses root); run scripts/install-deps (the postgresql package "
                        "creates it)")
        return None

    # -- lifecycle --

    def _setpriv_user(self) -> list[str]:
        if not self._switch_user:
            return []
        return [f"--reuid={PG_SUPERUSER}", f"--regid={PG_SUPERUSER}", "--clear-groups"]

    def _as_server_user(self, argv: list) -> list[str]:
        argv = [str(a) for a in argv]
        return ["setpriv", *self._setpriv_user(), "--", *argv] if self._switch_user else argv

    def start(self) -> "PostgresServer":
        import shutil  # noqa: PLC0415
        import tempfile  # noqa: PLC0415

        self.dir = Path(tempfile.mkdtemp(prefix="nodegate-pg-"))
        (self.dir / "sock").mkdir()
        if self._switch_user:
            for path in (self.dir, self.dir / "sock"):
                shutil.chown(path, PG_SUPERUSER, PG_SUPERUSER)
        # -N: no fsync while initialising; a data directory lost in a host crash is made again.
        initdb = subprocess.run(
            self._as_server_user([PG_BIN_DIR / "initdb", "-D", self.dir / "data", "-U", PG_SUPERUSER,
                                  "-A", "trust", "-E", "UTF8", "--locale=C", "-N"]),
            capture_output=True, text=True, timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
        if initdb.returncode != 0:
            raise AssertionError(f"initdb exited {initdb.returncode}:\n{initdb.stdout}{initdb.stderr}")
        error = None
        for _ in range(3):  # another process may take the free port before the server binds it
            self.port = _free_loopback_port()
            try:
                self._launch()
                return self
            except AssertionError as exc:
                error = exc
        raise error

    def _launch(self) -> None:
        log = open(self.dir / "postgres.log", "ab")  # noqa: SIM115 - the child keeps its own copy
        try:
            if self._switch_user:
                os.chown(self.dir / "postgres.log", *_uid_gid(PG_SUPERUSER))
            # fsync off: these tests kill processes, never the host, and a fast shutdown writes
            # everything committed; synchronous_commit stays on (the store asks for it anyway).
            server = [PG_BIN_DIR / "postgres", "-D", self.dir / "data", "-p", self.port,
                      "-k", self.dir / "sock", "-c", "listen_addresses=127.0.0.1",
                      *([] if self._durable else ["-c", "fsync=off", "-c", "full_page_writes=off"]),
                      "-c", "shared_buffers=16MB", "-c", "max_connections=100"]
            # One setpriv both switches the user and sets the parent-death signal: it applies
            # --pdeathsig after the switch, which would otherwise clear it.
            argv = ["setpriv", "--pdeathsig", "SIGQUIT", *self._setpriv_user(), "--",
                    *map(str, server)]
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        finally:
            log.close()

        def ready_or_exited() -> bool:
            if self.proc.poll() is not None:
                return True  # told apart below
            return subprocess.run([str(PG_BIN_DIR / "pg_isready"), "-q", "-h", HOST, "-p",
                                   str(self.port), "-U", PG_SUPERUSER, "-d", "postgres", "-t", "2"],
                                  stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT_S).returncode == 0

        try:
            wait_until(ready_or_exited, PG_START_TIMEOUT_S,
                       f"PostgreSQL to accept connections on port {self.port}")
        except DeadlineExceeded as exc:
            self.stop()
            raise AssertionError(f"{exc}\npostgres log:\n{self.log_tail()}") from None
        if self.proc.poll() is not None:
            code, self.proc = self.proc.returncode, None
            raise AssertionError(f"postgres exited {code} while starting on port {self.port}; its "
                                 f"log:\n{self.log_tail()}")

    def stop(self) -> None:
        """Fast shutdown, as `pg_ctl stop -m fast`; SIGKILL if it does not go in time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=PG_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=PG_STOP_TIMEOUT_S)
        self.proc = None

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: connected clients see their sessions end; same port and data."""
        assert self.proc is not None and self.proc.poll() is None, "restart of a server not running"
        self.stop()
        self._launch()

    def resume(self) -> None:
        """Starts a server stopped with stop() again: same port, same data. Call it from the
        thread that started the server (the server dies with the thread that launched it)."""
        assert self.proc is None and self.dir is not None, "resume of a server not stopped"
        self._launch()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        import shutil  # noqa: PLC0415

        try:
            self.stop()
        finally:
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    # -- databases --

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Runs SQL as the superuser over TCP; its output (unaligned, tuples only)."""
        proc = subprocess.run(
            [str(PG_BIN_DIR / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql,
             self.url(dbname)], capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
            stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError(f"psql {sql!r} on {dbname} exited {proc.returncode}:\n{proc.stderr}")
        return proc.stdout

    def url(self, dbname: str) -> str:
        """A libpq connection string without a password (trust auth on loopback)."""
        return f"host={HOST} port={self.port} dbname={dbname} user={PG_SUPERUSER}"

    def new_database(self, prefix: str = "nodegate") -> str:
        """CREATE DATABASE with a fresh name; its url."""
        self._databases += 1
        name = f"{prefix}_{self._databases}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def log_tail(self, chars: int = 4000) -> str:
        if self.dir is None or not (self.dir / "postgres.log").exists():
            return "(no log)"
        text = (self.dir / "postgres.log").read_text(errors="replace")
        return text[-chars:]


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _uid_gid(user: str) -> tuple[int, int]:
    import pwd  # noqa: PLC0415

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid

# END postgres block
# ==================================================================================================


def sanitized_build() -> Optional[str]:
    """The NODEGATE_SANITIZE of the build under test ("address,undefined", "thread"), None if plain:
    what a sanitized build installs or packages needs the sanitizer runtime to link and run."""
    cache = BUILD_DIR / "CMakeCache.txt"
    if not cache.exists():
        return None
    m = re.search(r"^NODEGATE_SANITIZE:STRING=(.*)$", cache.read_text(errors="replace"), re.M)
    return (m.group(1).strip() or None) if m else None
