"""Behind nginx (issue 6, design §7, facts §8 and §12): nginx terminates mTLS and passes calls to the
node; the node learns the caller from the certificate nginx forwards, and trusts that header only
from the proxy.

Every test runs the real pieces on 127.0.0.1: `nodegate serve` on fixed ports picked free just
before (nginx needs them in its config), a real nginx started by the test with the complete
config that `nodegate deploy nginx --standalone` rendered from the node's own config, and
seed-style Python grpcio clients (stubs generated from the repository's protos, certificates
from `nodegate pki`). Every nginx and daemon is stopped in teardown.

Two deployments are covered:
- `h2c`: nginx `grpc_pass grpc://` to the node's plaintext loopback listener (grpc.local_listen,
  local-TCP credentials), whose callers are trusted with `auth.forwarded.trust_local`;
- `grpcs`: nginx `grpc_pass grpcs://` to the node's TLS listener with nginx's own client
  certificate (node id `nginx-proxy`), trusted by `auth.forwarded.trusted_proxies`.
Both also with several replicas of the node behind one upstream (`deploy nginx --replica`).

Each Python call carries its own user agent (nginx passes it on); that is how a test finds the
access-log line its call produced on the backend.
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import nodegate_testlib as ng

NODE_ID = "backend-node"    # the node behind nginx; the audience of every signature
PROXY_ID = "nginx-proxy"    # nginx's own client certificate (grpcs deployment)
CLIENT_ID = "seed-client"   # the caller whose identity nginx forwards
ROLL_DIE = "/api.DiceService/RollDie"
WHOAMI = "/nodegate.v1.Identity/WhoAmI"
FORWARDED_HEADER = "x-forwarded-client-cert"
IGNORED_LINE = "ignored x-forwarded-client-cert from a peer that is not a trusted proxy"

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED

NGINX_STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3  # a port picked free can be taken before the daemon or nginx binds it


def find_nginx() -> Optional[str]:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None)


NGINX = find_nginx()
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (scripts/install-deps installs nginx-light)")


# ------------------------------------------------------------------------------------------------
# Small helpers


def free_port() -> int:
    """A loopback port that was free a moment ago (for configs that need a fixed port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ng.HOST, 0))
        return s.getsockname()[1]


def escaped_cert(pem: bytes) -> str:
    """A certificate the way nginx's $ssl_client_escaped_cert spells it: the PEM, percent-encoded."""
    return urllib.parse.quote(pem.decode("ascii"), safe="")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def signed_metadata(key_pem: Path, node_id: str, method: str, audience: str) -> tuple:
    """The four x-node-* headers of a v1 signature (design §3), built here from the wire format."""
    timestamp = str(int(time.time() * 1000))
    nonce = b64url(os.urandom(16))
    to_sign = "\n".join(["NODEGATE-SIG-V1", method, audience, node_id, timestamp, nonce]).encode()
    key = serialization.load_pem_private_key(key_pem.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return (("x-node-id", node_id), ("x-node-timestamp", timestamp), ("x-node-nonce", nonce),
            ("x-node-signature", b64url(key.sign(to_sign))))


def self_signed_client_cert(common_name: str, trust_domain: str = "nodegate.local") -> bytes:
    """A client certificate that names `common_name` exactly like a real one, signed by nobody."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nodegate")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"spiffe://{trust_domain}/node/{common_name}")]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


# ------------------------------------------------------------------------------------------------
# nginx, started by the test


class Nginx:
    """One nginx master (daemon off) in its own session, so teardown can reach its workers too."""

    def __init__(self, prefix: Path, conf: Path, port: int):
        self.prefix, self.conf, self.port = Path(prefix), Path(conf), port
        self.proc: Optional[subprocess.Popen] = None

    @property
    def address(self) -> str:
        return f"{ng.HOST}:{self.port}"

    @property
    def error_log_path(self) -> Path:
        return self.prefix / "error.log"

    def error_log(self) -> str:
        return self.error_log_path.read_text(errors="replace") if self.error_log_path.exists() else ""

    def access_log(self) -> str:
        path = self.prefix / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> "Nginx":
        with open(self.prefix / "nginx.stdout", "wb") as out:
            self.proc = subprocess.Popen(
                [NGINX, "-e", str(self.error_log_path), "-c", str(self.conf), "-p", f"{self.prefix}/"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def wait_ready(self) -> None:
        def accepting():
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited {self.proc.returncode}:\n{self.error_log()}")
            with socket.create_connection((ng.HOST, self.port), timeout=1.0):
                return True

        ng.wait_until(accepting, ng.START_TIMEOUT_S, f"nginx to accept on {self.address}")

    def stop(self) -> None:
        """SIGTERM (fast shutdown), then SIGKILL to the whole session if it does not go."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=NGINX_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=NGINX_STOP_TIMEOUT_S)


# ------------------------------------------------------------------------------------------------
# Key material shared by the module


@dataclass
class Material:
    pki: ng.Pki
    server: ng.Issued        # the node's and nginx's server certificate (SANs 127.0.0.1, localhost)
    proxy: ng.Issued         # nginx's client certificate for grpcs, CN=nginx-proxy
    client: ng.Issued        # CN=seed-client: the caller nginx forwards
    stranger: ng.Issued      # CN=stranger: CA-issued, but not a proxy
    signer_key: Path         # ed25519 signing key of node "signer" (PKCS#8 PEM)
    signer_pub: Path
    other_ca: ng.Pki         # an unrelated CA that also issued a "seed-client"
    other_ca_client: ng.Issued


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> Material:
    root = tmp_path_factory.mktemp("nginx_material")
    pki = ng.Pki(root / "pki").init()
    ng.run_nodegate("keys", "gen", "--alg", "ed25519", "--out", root / "signer")
    other = ng.Pki(root / "other-ca").init()
    return Material(pki, pki.issue("server", "server"), pki.issue(PROXY_ID, "client"),
                    pki.issue(CLIENT_ID, "client"), pki.issue("stranger", "client"),
                    root / "signer" / "signing-key.pem", root / "signer" / "signing-pub.pem",
                    other, other.issue(CLIENT_ID, "client"))


@pytest.fixture(scope="module")
def messages(tmp_path_factory):
    """{full method: (request class, response class)} from stubs generated from the repo's protos."""
    out = tmp_path_factory.mktemp("nginx_stubs")
    dice = ng.generate_stubs(out / "dice")
    identity = ng.generate_identity_stubs(out / "identity")
    return {ROLL_DIE: (dice.dice_pb2.RollDieRequest, dice.dice_pb2.RollDieResponse),
            WHOAMI: (identity.identity_pb2.WhoAmIRequest, identity.identity_pb2.WhoAmIResponse)}


# ------------------------------------------------------------------------------------------------
# A node behind nginx


@dataclass
class Outcome:
    code: grpc.StatusCode
    details: str
    user_agent: str
    response: object = None


@dataclass
class Stack:
    """nginx → node. `nginx` is where clients go; `tls_address`/`local_address` reach the node
    directly, bypassing nginx."""
    material: Material
    messages: dict
    config: Path
    daemon: ng.Daemon
    nginx: Nginx
    tls_address: str
    local_address: str

    def call(self, address: str, method: str, *, cert: Optional[ng.Issued] = None,
             metadata: tuple = (), plaintext: bool = False) -> Outcome:
        """One call on a fresh connection with a unique user agent; TLS to `address` unless
        `plaintext` (h2c, for the node's loopback listener)."""
        user_agent = f"e2e-nginx-{uuid.uuid4().hex}"
        options = [("grpc.use_local_subchannel_pool", 1), ("grpc.primary_user_agent", user_agent)]
        if plaintext:
            channel = grpc.insecure_channel(address, options=options)
        else:
            creds = ng.channel_credentials(self.material.pki.ca, cert.cert if cert else None,
                                           cert.key if cert else None)
            channel = grpc.secure_channel(address, creds, options=options)
        request_cls, response_cls = self.messages[method]
        rpc = channel.unary_unary(method, request_serializer=request_cls.SerializeToString,
                                  response_deserializer=response_cls.FromString)
        try:
            return Outcome(OK, "", user_agent, rpc(request_cls(), metadata=metadata,
                                                   timeout=ng.RPC_TIMEOUT_S))
        except grpc.RpcError as err:
            return Outcome(err.code(), err.details() or "", user_agent)
        finally:
            channel.close()

    def via_nginx(self, method: str, *, cert: Optional[ng.Issued] = None,
                  metadata: tuple = ()) -> Outcome:
        return self.call(self.nginx.address, method, cert=cert or self.material.client,
                         metadata=metadata)

    def log_entry(self, outcome: Outcome) -> dict:
        """The one access-log line the backend wrote for `outcome`'s call (waited for)."""
        def entries():
            return [e for e in self.daemon.access_log() if e.get("user_agent", "").startswith(
                outcome.user_agent)]

        found = ng.wait_until(entries, ng.RPC_TIMEOUT_S, f"the access-log line of {outcome.user_agent}")
        assert len(found) == 1, f"one call must be logged exactly once: {found}"
        return found[0]

    def never_reached_the_backend(self, outcome: Outcome) -> bool:
        """True if the backend logged nothing for `outcome`'s call: a later call through nginx is
        logged first (the log is written in order), then the earlier one is looked for."""
        sentinel = self.via_nginx(WHOAMI)
        self.log_entry(sentinel)
        return not any(e.get("user_agent", "").startswith(outcome.user_agent)
                       for e in self.daemon.access_log())

    def wait_stderr(self, text: str) -> None:
        ng.wait_until(lambda: text in self.daemon.stderr(), ng.RPC_TIMEOUT_S,
                      f"{text!r} on the node's stderr")

    def admin(self, *args) -> str:
        return ng.run_nodegate(*args, "--config", self.config).stdout


def toml_array(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def rule(method: str, authenticators: list[str], roles: list[str]) -> str:
    """One [[auth.rule]] table."""
    return (f'[[auth.rule]]\nmethod = "{method}"\nauthenticators = {toml_array(authenticators)}\n'
            f"roles = {toml_array(roles)}\n")


@pytest.fixture
def make_stack(tmp_path, material, messages):
    """Factory: make_stack(backend, ...) -> a running node with nginx in front (both stopped in
    teardown). `before_start(stack)` registers credentials in the node's store before it starts."""
    started: list = []

    def make(backend: str, *, underscores: str = "on", client_auth: str = "require",
             trust_local: Optional[bool] = None, rules: str = "",
             before_start: Optional[Callable[[Stack], None]] = None,
             crl: Optional[Path] = None) -> Stack:
        assert backend in ("h2c", "grpcs")
        if trust_local is None:
            trust_local = backend == "h2c"
        m = material
        last_error = None
        for attempt in range(PORT_ATTEMPTS):
            directory = tmp_path / f"stack{len(started)}-{attempt}"
            directory.mkdir()
            tls_port, local_port, nginx_port = free_port(), free_port(), free_port()
            config = ng.node_config(
                directory, cert=m.server.cert, key=m.server.key, ca=m.pki.ca, crl=crl,
                client_auth=client_auth, listen=f"{ng.HOST}:{tls_port}",
                extra={"node": {"id": NODE_ID}, "grpc": {"local_listen": f"{ng.HOST}:{local_port}"}})
            config.write_text(
                config.read_text()
                + f'\n[auth.forwarded]\nenabled = true\ntrusted_proxies = ["{PROXY_ID}"]\n'
                + f"trust_local = {'true' if trust_local else 'false'}\n\n" + rules)
            daemon = ng.Daemon(config, directory / "daemon")
            prefix = directory / "nginx"
            prefix.mkdir()
            nginx = Nginx(prefix, prefix / "nginx.conf", nginx_port)
            stack = Stack(m, messages, config, daemon, nginx, f"{ng.HOST}:{tls_port}",
                          f"{ng.HOST}:{local_port}")
            if before_start:
                before_start(stack)
            started.append(stack)
            daemon.start()
            try:
                daemon.wait_listening()
            except AssertionError as exc:
                last_error = exc
                if "cannot listen" in str(exc):
                    continue
                raise
            assert daemon.port == tls_port
            args = ["deploy", "nginx", "--config", config, "--listen", nginx.address,
                    "--backend", backend, "--underscores", underscores, "--standalone",
                    "--prefix", prefix, "-o", nginx.conf]
            if backend == "grpcs":
                args += ["--proxy-cert", m.proxy.cert, "--proxy-key", m.proxy.key]
            ng.run_nodegate(*args)
            nginx.start()
            try:
                nginx.wait_ready()
            except AssertionError as exc:
                last_error = exc
                if "Address already in use" in nginx.error_log():
                    continue
                raise
            return stack
        raise AssertionError(f"no free ports after {PORT_ATTEMPTS} attempts: {last_error}")

    yield make
    for stack in started:
        stack.nginx.stop()
        stack.daemon.stop()


BACKENDS = ["h2c", "grpcs"]


# ================================================================================================
# The seed's deployment: mTLS at nginx, h2c behind it


def test_seed_style_client_rolls_the_die_through_nginx_to_the_h2c_backend(make_stack, material,
                                                                          messages):
    stack = make_stack("h2c")
    request_cls, response_cls = messages[ROLL_DIE]
    creds = ng.channel_credentials(material.pki.ca, material.client.cert, material.client.key)

    with ng.fresh_channel(stack.nginx.address, creds) as channel:
        roll = channel.unary_unary(ROLL_DIE, request_serializer=request_cls.SerializeToString,
                                   response_deserializer=response_cls.FromString)
        values = [roll(request_cls(), timeout=ng.RPC_TIMEOUT_S).value for _ in range(30)]

    assert all(1 <= v <= 6 for v in values), values
    ng.wait_until(lambda: stack.nginx.access_log().count(f'"POST {ROLL_DIE} HTTP/2.0" 200 grpc_status=0')
                  == 30, ng.RPC_TIMEOUT_S, "30 RollDie lines with grpc_status=0 in nginx's access log")


def test_nginx_refuses_a_client_without_a_certificate_with_grpc_unauthenticated(make_stack):
    stack = make_stack("h2c")

    outcome = stack.call(stack.nginx.address, ROLL_DIE, cert=None)

    # Not nginx's HTTP 400 page (which grpcio reports as INTERNAL, facts §8): the rendered
    # error_page 496 answers with grpc-status 16 and says why.
    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    assert outcome.details == ("no client certificate: this endpoint requires one issued by the "
                               "node's CA"), outcome.details
    assert stack.never_reached_the_backend(outcome)


def test_nginx_refuses_a_client_certificate_from_another_ca_with_the_reason(make_stack, material):
    stack = make_stack("h2c")

    outcome = stack.call(stack.nginx.address, ROLL_DIE, cert=material.other_ca_client)

    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    # $ssl_client_verify: OpenSSL's reason for a leaf whose issuer is not in ssl_client_certificate.
    assert outcome.details == ("client certificate refused: FAILED:unable to verify the first "
                               "certificate"), outcome.details
    assert stack.never_reached_the_backend(outcome)


def test_nginx_refuses_a_revoked_client_certificate_with_the_reason(make_stack, material):
    revoked = material.pki.issue("revoked-client", "client")  # only this one is on the CRL
    material.pki.revoke(revoked)
    stack = make_stack("h2c", crl=material.pki.crl)

    outcome = stack.call(stack.nginx.address, ROLL_DIE, cert=revoked)

    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    assert outcome.details == "client certificate refused: FAILED:certificate revoked", outcome.details
    assert stack.never_reached_the_backend(outcome)


# ================================================================================================
# Forwarded identity: the node sees the client nginx verified, not nginx


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_backend_sees_the_forwarded_client_as_the_principal(make_stack, backend):
    stack = make_stack(backend)

    outcome = stack.via_nginx(WHOAMI)

    assert outcome.code == OK, outcome.details
    who = outcome.response
    assert (who.kind, who.id, list(who.authenticators), who.node_id) == (
        "node", CLIENT_ID, ["mtls"], NODE_ID)
    entry = stack.log_entry(outcome)
    assert entry["principal"] == f"node:{CLIENT_ID}", entry
    # On grpcs the connection itself is nginx's: the node knows the proxy by its certificate.
    assert entry["client_cn"] == (PROXY_ID if backend == "grpcs" else ""), entry
    assert IGNORED_LINE not in stack.daemon.stderr(), "nginx is the trusted proxy here"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_cli_whoami_through_nginx_prints_the_forwarded_client(make_stack, material, backend):
    stack = make_stack(backend)

    out = ng.run_nodegate("call", "whoami", "--target", stack.nginx.address, "--ca", material.pki.ca,
                          "--cert", material.client.cert, "--key", material.client.key).stdout

    assert out.strip().startswith(f"node:{CLIENT_ID} "), out
    assert "via=mtls" in out and f"node={NODE_ID}" in out, out


@pytest.mark.parametrize("backend", BACKENDS)
def test_nginx_overwrites_a_forwarded_header_sent_by_the_client(make_stack, material, backend):
    stack = make_stack(backend)
    claim = ((FORWARDED_HEADER, escaped_cert(material.stranger.cert.read_bytes())),)

    outcome = stack.via_nginx(WHOAMI, cert=material.client, metadata=claim)

    assert outcome.code == OK, outcome.details
    assert outcome.response.id == CLIENT_ID, "grpc_set_header must replace the client's own value"


def test_the_header_from_a_caller_without_a_certificate_gives_no_identity(make_stack, material):
    # The node's TLS listener asks for but does not require a certificate, so a caller can reach it
    # with none and only the (valid, CA-issued) forwarded certificate of someone else.
    stack = make_stack("grpcs", client_auth="request")
    claim = ((FORWARDED_HEADER, escaped_cert(material.client.cert.read_bytes())),)

    outcome = stack.call(stack.tls_address, WHOAMI, cert=None, metadata=claim)

    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    entry = stack.log_entry(outcome)
    assert entry["reason"].startswith("no_credential") and not entry.get("principal"), entry
    stack.wait_stderr(IGNORED_LINE)


def test_the_header_from_a_client_that_is_not_a_proxy_is_ignored(make_stack, material):
    stack = make_stack("grpcs")
    claim = ((FORWARDED_HEADER, escaped_cert(material.client.cert.read_bytes())),)

    outcome = stack.call(stack.tls_address, WHOAMI, cert=material.stranger, metadata=claim)

    assert outcome.code == OK, outcome.details
    assert (outcome.response.kind, outcome.response.id) == ("node", "stranger"), (
        "a CA-issued client that is not a proxy must not be able to speak for another")
    stack.wait_stderr(IGNORED_LINE)


def test_the_header_on_the_loopback_listener_without_trust_local_is_ignored(make_stack, material):
    stack = make_stack("grpcs", trust_local=False)
    claim = ((FORWARDED_HEADER, escaped_cert(material.client.cert.read_bytes())),)

    outcome = stack.call(stack.local_address, WHOAMI, metadata=claim, plaintext=True)

    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    entry = stack.log_entry(outcome)
    assert entry["reason"].startswith("no_credential") and not entry.get("principal"), entry
    stack.wait_stderr(IGNORED_LINE)


FORGERIES = {
    "self-signed": lambda m: self_signed_client_cert(CLIENT_ID),
    "another-ca": lambda m: m.other_ca_client.cert.read_bytes(),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_certificate_on_the_trusted_loopback_path_is_refused(make_stack, material, forgery):
    stack = make_stack("h2c")
    claim = ((FORWARDED_HEADER, escaped_cert(FORGERIES[forgery](material))),)

    outcome = stack.call(stack.local_address, WHOAMI, metadata=claim, plaintext=True)

    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    assert outcome.details == "forwarded certificate: does not verify against the CA"
    entry = stack.log_entry(outcome)
    assert entry.get("reason", "").startswith("forwarded_cert_invalid"), entry


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_certificate_from_the_trusted_proxy_certificate_is_refused(make_stack, material,
                                                                            forgery):
    stack = make_stack("grpcs")
    claim = ((FORWARDED_HEADER, escaped_cert(FORGERIES[forgery](material))),)

    outcome = stack.call(stack.tls_address, WHOAMI, cert=material.proxy, metadata=claim)

    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    assert outcome.details == "forwarded certificate: does not verify against the CA"


# ================================================================================================
# Per-call credentials are end to end: tokens, app keys and signatures pass nginx unchanged


ROLL_DIE_NEEDS_A_CALL_CREDENTIAL = rule(ROLL_DIE, ["signature", "token", "app_key"], ["dice"])


@dataclass
class Secrets:
    token: str = ""
    app_secret: str = ""


@pytest.fixture
def credential_stack(make_stack, material):
    """Factory: credential_stack(underscores) -> (Stack, Secrets). RollDie accepts only a
    signature, token or app key with role `dice`, so the forwarded certificate (mtls) alone is not
    enough and a credential lost on the way shows as a refusal."""

    def make(underscores: str = "on", backend: str = "h2c"):
        secrets = Secrets()

        def register(stack: Stack) -> None:
            stack.admin("node", "add", "--id", "signer", "--alg", "ed25519", "--public-key",
                        material.signer_pub, "--roles", "dice")
            secrets.token = stack.admin("token", "create", "--principal", "alice",
                                        "--roles", "dice").strip()
            out = stack.admin("appkey", "create", "--principal", "billing", "--app-key", "billing-key",
                              "--roles", "dice")
            secrets.app_secret = dict(line.split("=", 1) for line in out.split())["app_secret"]

        stack = make_stack(backend, underscores=underscores, rules=ROLL_DIE_NEEDS_A_CALL_CREDENTIAL,
                           before_start=register)
        return stack, secrets

    return make


def test_the_forwarded_certificate_alone_does_not_satisfy_a_call_credential_rule(credential_stack):
    stack, _ = credential_stack()

    outcome = stack.via_nginx(ROLL_DIE)

    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    assert stack.log_entry(outcome)["reason"].startswith("credential_not_accepted")


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_app_key_underscore_metadata_passes_nginx_with_underscores_on(credential_stack, backend):
    stack, secrets = credential_stack("on", backend)

    outcome = stack.via_nginx(ROLL_DIE, metadata=(("app_key", "billing-key"),
                                                  ("app_secret", secrets.app_secret)))

    assert outcome.code == OK, outcome.details
    assert stack.log_entry(outcome)["principal"] == "app:billing"


def test_seed_access_token_metadata_passes_nginx(credential_stack):
    stack, secrets = credential_stack()

    outcome = stack.via_nginx(ROLL_DIE, metadata=(("access-token", secrets.token),))

    assert outcome.code == OK, outcome.details
    assert stack.log_entry(outcome)["principal"] == "user:alice"


def test_the_cli_app_key_underscore_spelling_passes_nginx(credential_stack, material):
    stack, secrets = credential_stack()

    proc = ng.run_nodegate("call", "dice", "--target", stack.nginx.address, "--ca", material.pki.ca,
                           "--cert", material.client.cert, "--key", material.client.key,
                           "--app-key", "billing-key", "--app-secret", secrets.app_secret,
                           "--app-key-underscore")

    assert 1 <= int(proc.stdout.strip().splitlines()[-1].split("=")[-1]) <= 6, proc.stdout


def test_underscores_off_loses_the_app_key_underscore_headers(credential_stack):
    stack, secrets = credential_stack("off")

    outcome = stack.via_nginx(ROLL_DIE, metadata=(("app_key", "billing-key"),
                                                  ("app_secret", secrets.app_secret)))

    # The seed-002 pitfall: nginx drops the headers, so the node sees only the forwarded
    # certificate, which RollDie does not accept.
    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    assert stack.log_entry(outcome)["reason"].startswith("credential_not_accepted")
    assert 'client sent invalid header: "app_key"' in stack.nginx.error_log()  # only the name
    assert secrets.app_secret not in stack.nginx.error_log()


def test_underscores_off_keeps_the_hyphen_app_key_headers(credential_stack):
    stack, secrets = credential_stack("off")

    outcome = stack.via_nginx(ROLL_DIE, metadata=(("app-key", "billing-key"),
                                                  ("app-secret", secrets.app_secret)))

    assert outcome.code == OK, outcome.details
    assert stack.log_entry(outcome)["principal"] == "app:billing"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signature_for_the_backend_node_is_accepted_through_nginx(credential_stack, material,
                                                                    backend):
    stack, _ = credential_stack("on", backend)

    outcome = stack.via_nginx(ROLL_DIE, metadata=signed_metadata(material.signer_key, "signer",
                                                                 ROLL_DIE, audience=NODE_ID))

    assert outcome.code == OK, outcome.details
    assert stack.log_entry(outcome)["principal"] == "node:signer"


def test_whoami_through_nginx_names_the_signer_vouched_by_certificate_and_signature(credential_stack,
                                                                                   material):
    stack, _ = credential_stack()

    outcome = stack.via_nginx(WHOAMI, metadata=signed_metadata(material.signer_key, "signer", WHOAMI,
                                                               audience=NODE_ID))

    assert outcome.code == OK, outcome.details
    who = outcome.response
    assert (who.kind, who.id, sorted(who.authenticators)) == ("node", "signer", ["mtls", "signature"])


def test_a_signature_for_the_proxys_address_is_refused(credential_stack, material):
    stack, _ = credential_stack()

    outcome = stack.via_nginx(ROLL_DIE, metadata=signed_metadata(
        material.signer_key, "signer", ROLL_DIE, audience=stack.nginx.address))

    assert outcome.code == UNAUTHENTICATED, (outcome.code, outcome.details)
    assert stack.log_entry(outcome)["reason"].startswith("signature_invalid")


def test_the_cli_signs_through_nginx_for_the_backend_node(credential_stack, material):
    stack, _ = credential_stack()

    proc = ng.run_nodegate("call", "dice", "--target", stack.nginx.address, "--ca", material.pki.ca,
                           "--cert", material.client.cert, "--key", material.client.key,
                           "--sign-key", material.signer_key, "--node-id", "signer",
                           "--audience", NODE_ID)

    assert 1 <= int(proc.stdout.strip().splitlines()[-1].split("=")[-1]) <= 6, proc.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signed_call_replayed_byte_for_byte_through_nginx_is_refused(credential_stack, material,
                                                                       backend):
    stack, _ = credential_stack("on", backend)
    metadata = signed_metadata(material.signer_key, "signer", ROLL_DIE, audience=NODE_ID)
    first = stack.via_nginx(ROLL_DIE, metadata=metadata)
    assert first.code == OK, first.details

    replay = stack.via_nginx(ROLL_DIE, metadata=metadata)

    assert replay.code == UNAUTHENTICATED, (replay.code, replay.details)
    assert stack.log_entry(replay)["reason"].startswith("signature_replay"), stack.log_entry(replay)


# ================================================================================================
# Several replicas of one node behind one nginx (docs/deploy.md "Fleet")
#
# The replicas share node.id, certificates and policy; each keeps its own SQLite store here, as
# where calls land does not depend on the store (the PostgreSQL fleet is `make fleet`, and its smoke
# test tests/e2e/test_fleet_script.py). Which replica served a call is read from the replicas'
# own access logs, by the call's user agent.


@dataclass
class Fleet:
    material: Material
    messages: dict
    daemons: list
    nginx: Nginx

    def calls_on_one_connection(self, count: int, method: str = WHOAMI) -> tuple[str, list]:
        """`count` calls through nginx on one client connection: (their user agent, outcomes)."""
        user_agent = f"e2e-fleet-{uuid.uuid4().hex}"
        options = [("grpc.use_local_subchannel_pool", 1), ("grpc.primary_user_agent", user_agent)]
        m = self.material
        creds = ng.channel_credentials(m.pki.ca, m.client.cert, m.client.key)
        request_cls, response_cls = self.messages[method]
        outcomes = []
        with grpc.secure_channel(self.nginx.address, creds, options=options) as channel:
            rpc = channel.unary_unary(method, request_serializer=request_cls.SerializeToString,
                                      response_deserializer=response_cls.FromString)
            for _ in range(count):
                try:
                    outcomes.append(Outcome(OK, "", user_agent,
                                            rpc(request_cls(), timeout=ng.RPC_TIMEOUT_S)))
                except grpc.RpcError as err:
                    outcomes.append(Outcome(err.code(), err.details() or "", user_agent))
        return user_agent, outcomes

    def served_by_each(self, user_agent: str, total: int) -> list[int]:
        """How many of the `total` calls with `user_agent` each replica logged (waited for)."""
        def counts():
            per_replica = [sum(1 for e in d.access_log() if e.get("user_agent", "").startswith(
                user_agent)) for d in self.daemons]
            return per_replica if sum(per_replica) >= total else None

        return ng.wait_until(counts, ng.RPC_TIMEOUT_S, f"{total} access-log lines of {user_agent}")


@pytest.fixture
def make_fleet(tmp_path, material, messages):
    """Factory: make_fleet(backend, replicas) -> `replicas` running daemons of node NODE_ID and one
    nginx rendered with --replica for each of them (all stopped in teardown)."""
    fleets: list = []

    def make(backend: str, replicas: int = 3) -> Fleet:
        m = material
        last_error = None
        for attempt in range(PORT_ATTEMPTS):
            directory = tmp_path / f"fleet{len(fleets)}-{attempt}"
            prefix = directory / "nginx"
            fleet = Fleet(m, messages, [], Nginx(prefix, prefix / "nginx.conf", free_port()))
            fleets.append(fleet)
            addresses = []
            for i in range(replicas):
                replica_dir = directory / f"replica{i}"
                replica_dir.mkdir(parents=True)
                tls_port, local_port = free_port(), free_port()
                config = ng.node_config(
                    replica_dir, cert=m.server.cert, key=m.server.key, ca=m.pki.ca,
                    listen=f"{ng.HOST}:{tls_port}",
                    extra={"node": {"id": NODE_ID},
                           "grpc": {"local_listen": f"{ng.HOST}:{local_port}"}})
                config.write_text(
                    config.read_text()
                    + f'\n[auth.forwarded]\nenabled = true\ntrusted_proxies = ["{PROXY_ID}"]\n'
                    + f"trust_local = {'true' if backend == 'h2c' else 'false'}\n")
                fleet.daemons.append(ng.Daemon(config, replica_dir / "daemon").start())
                addresses.append(f"{ng.HOST}:{tls_port if backend == 'grpcs' else local_port}")
            try:
                for daemon in fleet.daemons:
                    daemon.wait_listening()
            except AssertionError as exc:
                last_error = exc
                if "cannot listen" in str(exc):
                    continue
                raise
            fleet.nginx.prefix.mkdir()
            args = ["deploy", "nginx", "--config", fleet.daemons[0].config, "--listen",
                    fleet.nginx.address, "--backend", backend, "--standalone", "--prefix",
                    fleet.nginx.prefix, "-o", fleet.nginx.conf]
            for address in addresses:
                args += ["--replica", address]
            if backend == "grpcs":
                args += ["--proxy-cert", m.proxy.cert, "--proxy-key", m.proxy.key]
            ng.run_nodegate(*args)
            fleet.nginx.start()
            try:
                fleet.nginx.wait_ready()
            except AssertionError as exc:
                last_error = exc
                if "Address already in use" in fleet.nginx.error_log():
                    continue
                raise
            return fleet
        raise AssertionError(f"no free ports after {PORT_ATTEMPTS} attempts: {last_error}")

    yield make
    errors = []
    for fleet in fleets:
        fleet.nginx.stop()
        for daemon in fleet.daemons:
            try:
                daemon.stop()
            except AssertionError as exc:
                errors.append(exc)
    if errors:
        raise errors[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_on_one_client_connection_reach_every_replica(make_fleet, backend):
    fleet = make_fleet(backend, replicas=3)

    user_agent, outcomes = fleet.calls_on_one_connection(30)

    assert [o.code for o in outcomes] == [OK] * 30, [(o.code, o.details) for o in outcomes]
    # Every replica answers as the one node, for the client nginx verified.
    assert {(o.response.id, o.response.node_id) for o in outcomes} == {(CLIENT_ID, NODE_ID)}
    served = fleet.served_by_each(user_agent, 30)
    assert sum(served) == 30 and all(n > 0 for n in served), served  # round robin: 10 each
    rendered = fleet.nginx.conf.read_text()
    assert "keepalive 64;" in rendered and "# 3 replicas of node backend-node" in rendered


def test_a_stopped_replica_is_skipped_and_the_others_take_its_calls(make_fleet):
    fleet = make_fleet("grpcs", replicas=3)
    user_agent, outcomes = fleet.calls_on_one_connection(6)
    assert [o.code for o in outcomes] == [OK] * 6
    fleet.served_by_each(user_agent, 6)

    fleet.daemons[0].stop()
    user_agent, outcomes = fleet.calls_on_one_connection(12)

    assert [o.code for o in outcomes] == [OK] * 12, [(o.code, o.details) for o in outcomes]
    served = fleet.served_by_each(user_agent, 12)
    assert served[0] == 0 and served[1] > 0 and served[2] > 0, served


def test_deploy_nginx_refuses_a_replica_it_cannot_use(tmp_path, material):
    config = ng.node_config(tmp_path, cert=material.server.cert, key=material.server.key,
                            ca=material.pki.ca)
    base = ["deploy", "nginx", "--config", config, "--proxy-cert", material.proxy.cert,
            "--proxy-key", material.proxy.key]

    for replica, why in [("10.0.0.11", "no :PORT"), ("10.0.0.11:0", "ephemeral port"),
                         ("a;b:8443", "not a name or an address")]:
        proc = ng.run_nodegate(*base, "--replica", "10.0.0.10:8443", "--replica", replica,
                               check=False)
        assert proc.returncode != 0 and proc.stdout == "", proc
        assert f"nodegate deploy nginx: --replica '{replica}': " in proc.stderr, proc.stderr
        assert why in proc.stderr, proc.stderr
    proc = ng.run_nodegate(*base, "--backend", "h2c", "--replica", "10.0.0.11:8081", check=False)
    assert proc.returncode != 0 and "use --backend grpcs" in proc.stderr, proc.stderr
