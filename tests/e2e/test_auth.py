"""Per-call authentication and authorisation, end to end (issue 3, design §3, §4, §7).

The real `nodegate serve` on an ephemeral port, credentials written by the real CLI
(`nodegate keys gen`, `node add`, `token create`, `appkey create`), and two real clients:
Python grpcio (full control of the metadata on the wire; v1 signatures are built here from the
wire format in design §3 with `cryptography`) and `nodegate call` (the C++ client, whose `whoami`
prints the Principal the handler saw).

Every node listens with client_auth = "request" unless a test says otherwise, so a Python client
without a certificate presents no credential at all. Each Python call carries its own user agent;
that is how a test finds the one access-log line its call produced.

Credentials written by the CLI while the daemon runs reach it within auth.credentials_poll (500 ms):
tests poll for the effect with a deadline, never sleep.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import grpc
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import nodegate_testlib as ng

AUDIENCE = "e2e-node"  # [node] id written by ng.node_config: the audience every signature must name
ROLL_DIE = "/api.DiceService/RollDie"
WHOAMI = "/nodegate.v1.Identity/WhoAmI"
PING = "/nodegate.v1.Identity/Ping"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"

# auth.credentials_poll is 500 ms; the margin is for a machine busy compiling on every core.
CREDENTIALS_BOUND_S = 0.5 + 4.5
DEFAULT_MAX_SKEW_S = 60
AUTHENTICATORS = ["mtls", "signature", "token", "app_key"]

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


def rule(method: str, *, authenticators: Optional[list[str]] = None,
         roles: Optional[list[str]] = None, public: bool = False) -> str:
    """One [[auth.rule]] table."""
    lines = ["[[auth.rule]]", f'method = "{method}"']
    if public:
        lines.append("public = true")
    if authenticators is not None:
        lines.append("authenticators = [" + ", ".join(f'"{a}"' for a in authenticators) + "]")
    if roles is not None:
        lines.append("roles = [" + ", ".join(f'"{r}"' for r in roles) + "]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Generated stubs: api.DiceService (testlib) + nodegate.v1.Identity and grpc.health.v1 messages


@dataclass
class Messages:
    """Request/response classes per full method, for calling with a bare channel.unary_unary."""
    by_method: dict

    def call(self, channel: grpc.Channel, method: str, metadata, timeout: float):
        request_cls, response_cls = self.by_method[method]
        rpc = channel.unary_unary(method, request_serializer=request_cls.SerializeToString,
                                  response_deserializer=response_cls.FromString)
        return rpc(request_cls(), metadata=metadata, timeout=timeout)


@pytest.fixture(scope="module")
def messages(stubs, tmp_path_factory) -> Messages:
    out = tmp_path_factory.mktemp("identity_stubs")
    proc = subprocess.run(
        ["/usr/bin/python3", "-m", "grpc_tools.protoc", f"-I{ng.SOURCE_DIR / 'proto'}",
         f"--python_out={out}", "nodegate/v1/options.proto", "nodegate/v1/identity.proto"],
        capture_output=True, text=True, timeout=ng.CLI_TIMEOUT_S)
    assert proc.returncode == 0, f"grpc_tools.protoc identity.proto failed:\n{proc.stderr}"
    sys.path.insert(0, str(out))
    from nodegate.v1 import identity_pb2  # noqa: PLC0415 - generated just above
    return Messages({
        ROLL_DIE: (stubs.dice_pb2.RollDieRequest, stubs.dice_pb2.RollDieResponse),
        WHOAMI: (identity_pb2.WhoAmIRequest, identity_pb2.WhoAmIResponse),
        PING: (identity_pb2.PingRequest, identity_pb2.PingResponse),
        HEALTH_CHECK: (stubs.health_pb2.HealthCheckRequest, stubs.health_pb2.HealthCheckResponse),
    })


# ------------------------------------------------------------------------------------------------
# v1 signatures, built from design §3 (not from the project's own client code)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class SigningKey:
    """A keypair written by `nodegate keys gen`."""
    alg: str
    private_pem: Path
    public_pem: Path

    def sign(self, data: bytes) -> bytes:
        key = serialization.load_pem_private_key(self.private_pem.read_bytes(), password=None)
        if self.alg == "ed25519":
            assert isinstance(key, ed25519.Ed25519PrivateKey)
            return key.sign(data)
        assert self.alg == "ecdsa-p256-sha256" and isinstance(key, ec.EllipticCurvePrivateKey)
        return key.sign(data, ec.ECDSA(hashes.SHA256()))  # DER, as design §3 asks


def string_to_sign(method: str, audience: str, node_id: str, timestamp: str, nonce: str) -> bytes:
    return "\n".join(["NODEGATE-SIG-V1", method, audience, node_id, timestamp, nonce]).encode()


def signed_metadata(key: SigningKey, node_id: str, method: str, *, audience: str = AUDIENCE,
                    timestamp_ms: Optional[int] = None) -> tuple[tuple[str, str], ...]:
    """The four x-node-* headers for one call, with a fresh 16-byte nonce."""
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    nonce = b64url(os.urandom(16))
    signature = key.sign(string_to_sign(method, audience, node_id, timestamp, nonce))
    return (("x-node-id", node_id), ("x-node-timestamp", timestamp), ("x-node-nonce", nonce),
            ("x-node-signature", b64url(signature)))


# ------------------------------------------------------------------------------------------------
# Key material shared by the module (making it is deterministic; every test gets its own store)


@dataclass
class Material:
    pki: ng.Pki
    signer: SigningKey          # ed25519, registered as node "signer" with role dice
    signer_ecdsa: SigningKey    # ecdsa-p256-sha256, node "signer-ecdsa", role dice
    outsider: SigningKey        # ed25519, node "outsider", role other
    mtls_dice: ng.Issued        # client cert CN=mtls-dice, registered with role dice
    mtls_other: ng.Issued       # client cert CN=mtls-other, registered with role other
    stranger: ng.Issued         # client cert CN=stranger, never registered


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> Material:
    root = tmp_path_factory.mktemp("auth_material")
    pki = ng.Pki(root / "pki").init()
    pki.issue("server", "server")

    def keys(name: str, alg: str) -> SigningKey:
        ng.run_nodegate("keys", "gen", "--alg", alg, "--out", root / name)
        return SigningKey(alg, root / name / "signing-key.pem", root / name / "signing-pub.pem")

    return Material(pki, keys("signer", "ed25519"), keys("signer-ecdsa", "ecdsa-p256-sha256"),
                    keys("outsider", "ed25519"), pki.issue("mtls-dice", "client"),
                    pki.issue("mtls-other", "client"), pki.issue("stranger", "client"))


# ------------------------------------------------------------------------------------------------
# A node under test, its credentials, and calls against it


@dataclass
class Outcome:
    code: grpc.StatusCode
    details: str
    user_agent: str
    response: object = None


@dataclass
class Credential:
    """What one caller presents: a client certificate and/or per-call metadata."""
    principal: str                                   # as the access log and WhoAmI name it
    roles: str
    cert: Optional[ng.Issued] = None
    metadata: Callable[[str], tuple] = lambda method: ()
    cli_args: list = field(default_factory=list)     # the same credential for `nodegate call`
    secrets: list = field(default_factory=list)      # strings that must never reach a log


@dataclass
class AuthNode:
    tmp: Path
    material: Material
    config: Path
    daemon: Optional[ng.Daemon] = None
    start_node: Callable = None
    messages: Messages = None

    # -- the operator's CLI (writes to the node's store) --

    def admin(self, *args) -> str:
        return ng.run_nodegate(*args, "--config", self.config).stdout

    def add_node(self, node_id: str, key: SigningKey, roles: str = "") -> None:
        args = ["node", "add", "--id", node_id, "--alg", key.alg, "--public-key", key.public_pem]
        self.admin(*args, *(["--roles", roles] if roles else []))

    def create_token(self, principal: str, roles: str = "", *extra: str) -> str:
        token = self.admin("token", "create", "--principal", principal,
                           *(["--roles", roles] if roles else []), *extra).strip()
        assert token and "\n" not in token, token
        return token

    def create_app_key(self, principal: str, app_key: str, roles: str = "") -> str:
        out = self.admin("appkey", "create", "--principal", principal, "--app-key", app_key,
                         *(["--roles", roles] if roles else []))
        fields = dict(line.split("=", 1) for line in out.split())
        assert fields["app_key"] == app_key, out
        return fields["app_secret"]

    def start(self) -> "AuthNode":
        self.daemon = self.start_node(self.config)
        return self

    @property
    def address(self) -> str:
        return self.daemon.address

    # -- Python grpcio calls, one fresh connection each, each with its own user agent --

    def call(self, method: str, cred: Optional[Credential] = None, *,
             metadata: Optional[tuple] = None, cert: Optional[ng.Issued] = None) -> Outcome:
        cert = cert or (cred.cert if cred else None)
        if metadata is None:
            metadata = cred.metadata(method) if cred else ()
        creds = ng.channel_credentials(self.material.pki.ca, cert.cert if cert else None,
                                       cert.key if cert else None)
        user_agent = f"e2e-auth-{uuid.uuid4().hex}"
        options = [("grpc.use_local_subchannel_pool", 1), ("grpc.primary_user_agent", user_agent)]
        channel = grpc.secure_channel(self.address, creds, options=options)
        try:
            response = self.messages.call(channel, method, metadata, ng.RPC_TIMEOUT_S)
            return Outcome(OK, "", user_agent, response)
        except grpc.RpcError as err:
            return Outcome(err.code(), err.details() or "", user_agent)
        finally:
            channel.close()

    def cli_call(self, what: str, cred: Optional[Credential] = None, *extra,
                 check: bool = True) -> subprocess.CompletedProcess:
        """`nodegate call WHAT`; without a certificate in `cred` the client presents none."""
        args = ["--target", self.address, "--ca", self.material.pki.ca]
        if cred and cred.cert:
            args += ["--cert", cred.cert.cert, "--key", cred.cert.key]
        return ng.run_nodegate("call", what, *args, *(cred.cli_args if cred else []), *extra,
                               check=check)

    # -- the access log --

    def log_entries(self, user_agent: str) -> list[dict]:
        """Every access-log line of the call made with `user_agent`, complete: a sentinel call made
        afterwards is waited for first, and the log is written in order."""
        # With a certificate, so that it reaches authorization under client_auth = "require" too.
        sentinel = self.call(PING, cert=self.material.stranger)
        ng.wait_until(lambda: any(sentinel.user_agent in e.get("user_agent", "")
                                  for e in self.daemon.access_log()),
                      ng.RPC_TIMEOUT_S, "the sentinel call's access-log line")
        return [e for e in self.daemon.access_log() if user_agent in e.get("user_agent", "")]

    def daemon_output(self) -> str:
        return self.daemon.stdout() + self.daemon.stderr()


@pytest.fixture
def make_node(tmp_path, start_node, material, messages):
    """Factory: make_node(extra_toml, client_auth=...) -> a configured, not yet started AuthNode."""
    count = [0]

    def make(extra_toml: str = "", client_auth: str = "request") -> AuthNode:
        count[0] += 1
        directory = tmp_path / f"node{count[0]}"
        directory.mkdir()
        server = ng.Issued(material.pki.dir / "server.pem", material.pki.dir / "server-key.pem")
        config = ng.node_config(directory, cert=server.cert, key=server.key, ca=material.pki.ca,
                                client_auth=client_auth)
        if extra_toml:
            config.write_text(config.read_text() + "\n" + extra_toml)
        return AuthNode(directory, material, config, start_node=start_node, messages=messages)

    return make


class Cast:
    """The standard callers, one with role `dice` and one with role `other` per authenticator,
    registered in the node's store before it starts."""

    def __init__(self, node: AuthNode):
        m = node.material
        node.add_node("signer", m.signer, "dice")
        node.add_node("signer-ecdsa", m.signer_ecdsa, "dice")
        node.add_node("outsider", m.outsider, "other")
        node.add_node("mtls-dice", m.outsider, "dice")   # mTLS roles come from the registry entry
        node.add_node("mtls-other", m.outsider, "other")
        alice = node.create_token("alice", "dice")
        bob = node.create_token("bob", "other")
        billing = node.create_app_key("billing", "billing-key", "dice")
        reports = node.create_app_key("reports", "reports-key", "other")

        self.dice = {
            "mtls": Credential("node:mtls-dice", "dice", cert=m.mtls_dice),
            "signature": self.signature("signer", m.signer, "dice"),
            "token": self.token("user:alice", alice, "dice"),
            "app_key": self.app_key("app:billing", "billing-key", billing, "dice"),
        }
        self.other = {
            "mtls": Credential("node:mtls-other", "other", cert=m.mtls_other),
            "signature": self.signature("outsider", m.outsider, "other"),
            "token": self.token("user:bob", bob, "other"),
            "app_key": self.app_key("app:reports", "reports-key", reports, "other"),
        }
        self.secrets = [alice, bob, billing, reports]

    @staticmethod
    def signature(node_id: str, key: SigningKey, roles: str) -> Credential:
        return Credential(f"node:{node_id}", roles,
                          metadata=lambda method: signed_metadata(key, node_id, method),
                          cli_args=["--sign-key", key.private_pem, "--node-id", node_id,
                                    "--audience", AUDIENCE])

    @staticmethod
    def token(principal: str, token: str, roles: str) -> Credential:
        return Credential(principal, roles,
                          metadata=lambda method: (("authorization", f"Bearer {token}"),),
                          cli_args=["--token", token], secrets=[token])

    @staticmethod
    def app_key(principal: str, key: str, secret: str, roles: str) -> Credential:
        return Credential(principal, roles,
                          metadata=lambda method: (("app-key", key), ("app-secret", secret)),
                          cli_args=["--app-key", key, "--app-secret", secret], secrets=[secret])


def assert_refused(node: AuthNode, outcome: Outcome, code: grpc.StatusCode, reason: str) -> dict:
    """The call failed with `code`, and its one access-log line (written by the server core when
    it refused the call before any handler) has that status and a reason starting with
    `reason`."""
    assert outcome.code == code, f"expected {code.name}, got {outcome.code.name}: {outcome.details}"
    entries = node.log_entries(outcome.user_agent)
    assert len(entries) == 1, f"a refused call must be logged exactly once: {entries}"
    entry = entries[0]
    assert entry["status"] == code.name and entry["code"] == code.value[0], entry
    assert entry.get("reason", "").startswith(reason), entry
    return entry


def assert_allowed(node: AuthNode, outcome: Outcome, principal: str) -> dict:
    assert outcome.code == OK, f"expected OK, got {outcome.code.name}: {outcome.details}"
    entries = node.log_entries(outcome.user_agent)
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["status"] == "OK" and entry.get("principal") == principal, entry
    assert "reason" not in entry, entry
    return entry


def policy_rows(node: AuthNode) -> dict[str, list[str]]:
    """`nodegate policy` as {method: [ACCESS, AUTHENTICATORS, ROLES, SOURCE]}."""
    rows = {}
    for line in node.admin("policy").splitlines():
        if line.startswith("/"):
            cols = line.split()
            rows[cols[0]] = cols[1:]
    return rows


# ================================================================================================
# For each authenticator, RollDie accepts only that authenticator and needs role `dice`


@pytest.fixture(params=AUTHENTICATORS)
def per_authenticator(request, make_node):
    """(authenticator, started node whose RollDie rule accepts only it, Cast)."""
    authenticator = request.param
    node = make_node("[auth]\n" + rule(ROLL_DIE, authenticators=[authenticator], roles=["dice"]))
    cast = Cast(node)
    node.start()
    return authenticator, node, cast


def test_allows_a_call_with_an_accepted_credential_and_the_required_role(per_authenticator):
    authenticator, node, cast = per_authenticator
    caller = cast.dice[authenticator]

    outcome = node.call(ROLL_DIE, caller)

    assert outcome.code == OK, outcome.details
    assert 1 <= outcome.response.value <= 6
    assert_allowed(node, outcome, caller.principal)


def test_refuses_a_call_without_any_credential_as_unauthenticated(per_authenticator):
    authenticator, node, _ = per_authenticator

    outcome = node.call(ROLL_DIE)  # no client certificate, no metadata

    entry = assert_refused(node, outcome, UNAUTHENTICATED, "no_credential")
    assert f"accepts: {authenticator}" in outcome.details
    assert "principal" not in entry


def test_refuses_a_credential_the_method_does_not_accept_as_unauthenticated(per_authenticator):
    authenticator, node, cast = per_authenticator
    # A valid caller with role dice, but through a different authenticator.
    other = cast.dice["token" if authenticator == "mtls" else "mtls"]

    outcome = node.call(ROLL_DIE, other)

    assert_refused(node, outcome, UNAUTHENTICATED, "credential_not_accepted")
    assert f"accepts: {authenticator}" in outcome.details


def test_refuses_a_caller_without_the_required_role_as_permission_denied(per_authenticator):
    authenticator, node, cast = per_authenticator
    caller = cast.other[authenticator]

    outcome = node.call(ROLL_DIE, caller)

    entry = assert_refused(node, outcome, PERMISSION_DENIED, "role_missing")
    assert "dice" in outcome.details
    assert entry.get("principal") == caller.principal, "a PERMISSION_DENIED caller is identified"


def test_handler_sees_the_callers_principal(per_authenticator):
    authenticator, node, cast = per_authenticator
    caller = cast.dice[authenticator]

    result = node.cli_call("whoami", caller)

    assert result.stdout.strip() == \
        f"{caller.principal} roles={caller.roles} via={authenticator} node={AUDIENCE}"


def test_whoami_tells_a_python_client_its_principal_roles_and_authenticator(per_authenticator):
    authenticator, node, cast = per_authenticator
    caller = cast.other[authenticator]  # WhoAmI needs no role: the role-less caller is fine

    outcome = node.call(WHOAMI, caller)

    assert outcome.code == OK, outcome.details
    who = outcome.response
    assert (f"{who.kind}:{who.id}", list(who.roles), list(who.authenticators), who.node_id) == \
        (caller.principal, [caller.roles], [authenticator], AUDIENCE)


# ================================================================================================
# Public methods


def test_ping_is_public_by_its_proto_option(make_node):
    node = make_node().start()

    outcome = node.call(PING)  # no certificate, no metadata

    assert outcome.code == OK, outcome.details
    assert outcome.response.node_id == AUDIENCE
    assert policy_rows(node)[PING] == ["public", "-", "-", "proto"]


def test_health_check_is_public(make_node):
    node = make_node().start()

    outcome = node.call(HEALTH_CHECK)

    assert outcome.code == OK, outcome.details
    assert outcome.response.status == 1  # SERVING


def test_whoami_without_any_credential_is_refused_by_default(make_node):
    node = make_node().start()

    outcome = node.call(WHOAMI)

    assert_refused(node, outcome, UNAUTHENTICATED, "no_credential")


def test_a_config_rule_makes_roll_die_public(make_node):
    node = make_node("[auth]\n" + rule(ROLL_DIE, public=True)).start()

    outcome = node.call(ROLL_DIE)

    assert outcome.code == OK, outcome.details
    assert 1 <= outcome.response.value <= 6
    assert policy_rows(node)[ROLL_DIE] == ["public", "-", "-", "config"]


def test_a_config_rule_overrides_the_proto_option_of_ping(make_node):
    node = make_node("[auth]\n" + rule(PING, authenticators=["token"]))
    alice = node.create_token("alice")
    node.start()

    without = node.call(PING)
    with_token = node.call(PING, metadata=(("authorization", f"Bearer {alice}"),))

    assert_refused(node, without, UNAUTHENTICATED, "no_credential")
    assert with_token.code == OK, with_token.details
    assert policy_rows(node)[PING] == ["auth", "token", "-", "config"]


def test_policy_table_has_five_columns_on_every_row(make_node):
    node = make_node()

    rows = policy_rows(node)

    assert rows and all(len(cols) == 4 for cols in rows.values()), \
        {m: c for m, c in rows.items() if len(c) != 4}


# ================================================================================================
# Signatures (wire format v1, built here from design §3)


@pytest.fixture
def signature_node(make_node):
    """RollDie and WhoAmI accept only signatures; nodes signer (ed25519), signer-ecdsa, outsider."""
    node = make_node("[auth]\n" + rule(ROLL_DIE, authenticators=["signature"])
                     + rule(WHOAMI, authenticators=["signature"]))
    m = node.material
    node.add_node("signer", m.signer, "dice")
    node.add_node("signer-ecdsa", m.signer_ecdsa, "dice")
    return node.start()


@pytest.mark.parametrize("node_id,key_attr", [("signer", "signer"),
                                              ("signer-ecdsa", "signer_ecdsa")],
                         ids=["ed25519", "ecdsa-p256-sha256"])
def test_refuses_a_signed_call_replayed_byte_for_byte(signature_node, node_id, key_attr):
    node = signature_node
    metadata = signed_metadata(getattr(node.material, key_attr), node_id, ROLL_DIE)

    first = node.call(ROLL_DIE, metadata=metadata)
    replay = node.call(ROLL_DIE, metadata=metadata)  # identical headers, new connection

    assert_allowed(node, first, f"node:{node_id}")
    assert "replay" in replay.details
    assert_refused(node, replay, UNAUTHENTICATED, "signature_replay")


@pytest.mark.parametrize("offset_s", [-(DEFAULT_MAX_SKEW_S + 30), DEFAULT_MAX_SKEW_S + 30],
                         ids=["stale", "future"])
def test_refuses_a_timestamp_outside_the_default_window(signature_node, offset_s):
    node = signature_node
    when = int((time.time() + offset_s) * 1000)
    metadata = signed_metadata(node.material.signer, "signer", ROLL_DIE, timestamp_ms=when)

    outcome = node.call(ROLL_DIE, metadata=metadata)

    assert "timestamp" in outcome.details
    assert_refused(node, outcome, UNAUTHENTICATED, "signature_skew")


def test_max_skew_from_the_config_bounds_the_window(make_node):
    node = make_node('[auth.signature]\nmax_skew = "5s"\n')
    node.add_node("signer", node.material.signer)
    node.start()
    ten_seconds_ago = int((time.time() - 10) * 1000)

    outcome = node.call(ROLL_DIE, metadata=signed_metadata(node.material.signer, "signer",
                                                           ROLL_DIE, timestamp_ms=ten_seconds_ago))

    assert_refused(node, outcome, UNAUTHENTICATED, "signature_skew")


def test_refuses_a_signature_over_another_audience(signature_node):
    node = signature_node
    metadata = signed_metadata(node.material.signer, "signer", ROLL_DIE, audience="other-node")

    outcome = node.call(ROLL_DIE, metadata=metadata)

    assert_refused(node, outcome, UNAUTHENTICATED, "signature_invalid")


def test_cli_signing_for_another_audience_is_refused(signature_node):
    node = signature_node
    key = node.material.signer

    result = node.cli_call("dice", None, "--sign-key", key.private_pem, "--node-id", "signer",
                           "--audience", "other-node", check=False)

    assert result.returncode == 64 + 16  # an RPC error exits 64 + its code (docs/cli.md)
    assert ng.CALL_FAILED_RE.search(result.stderr).group(1) == "UNAUTHENTICATED", result.stderr


def test_refuses_a_signature_made_for_another_method(signature_node):
    node = signature_node
    metadata = signed_metadata(node.material.signer, "signer", WHOAMI)

    outcome = node.call(ROLL_DIE, metadata=metadata)

    assert_refused(node, outcome, UNAUTHENTICATED, "signature_invalid")


def test_refuses_a_signature_by_a_key_other_than_the_registered_one(signature_node):
    node = signature_node
    # "signer" is registered with its ed25519 key; sign as "signer" with the outsider's ed25519 key.
    metadata = signed_metadata(node.material.outsider, "signer", ROLL_DIE)

    outcome = node.call(ROLL_DIE, metadata=metadata)

    assert_refused(node, outcome, UNAUTHENTICATED, "signature_invalid")


def test_refuses_a_signature_from_an_unregistered_node(signature_node):
    node = signature_node
    metadata = signed_metadata(node.material.outsider, "outsider", ROLL_DIE)

    outcome = node.call(ROLL_DIE, metadata=metadata)

    assert_refused(node, outcome, UNAUTHENTICATED, "signature_unknown_node")


def test_refuses_a_malformed_signature_header_naming_the_header(signature_node):
    node = signature_node
    metadata = dict(signed_metadata(node.material.signer, "signer", ROLL_DIE))
    metadata["x-node-nonce"] = "c2hvcnQ"  # base64url of 5 bytes: below the 16-byte minimum

    outcome = node.call(ROLL_DIE, metadata=tuple(metadata.items()))

    assert "x-node-nonce" in outcome.details
    assert_refused(node, outcome, UNAUTHENTICATED, "malformed")


def test_disabling_a_node_refuses_its_signatures_without_restart(signature_node):
    node = signature_node
    key = node.material.signer
    assert node.call(ROLL_DIE, metadata=signed_metadata(key, "signer", ROLL_DIE)).code == OK
    pid = node.daemon.proc.pid

    node.admin("node", "disable", "--id", "signer")
    refused = ng.wait_until(
        lambda: (o := node.call(ROLL_DIE, metadata=signed_metadata(key, "signer", ROLL_DIE))).code
        != OK and o, CREDENTIALS_BOUND_S, "the disabled node's signatures to be refused")

    assert_refused(node, refused, UNAUTHENTICATED, "signature_node_disabled")
    assert node.daemon.running() and node.daemon.proc.pid == pid, "no restart allowed"


def test_re_enabling_a_node_accepts_its_signatures_again(signature_node):
    node = signature_node
    key = node.material.signer
    node.admin("node", "disable", "--id", "signer")
    ng.wait_until(lambda: node.call(ROLL_DIE, metadata=signed_metadata(key, "signer", ROLL_DIE))
                  .code == UNAUTHENTICATED, CREDENTIALS_BOUND_S, "the node to be disabled")

    node.admin("node", "enable", "--id", "signer")

    ng.wait_until(lambda: node.call(ROLL_DIE, metadata=signed_metadata(key, "signer", ROLL_DIE))
                  .code == OK, CREDENTIALS_BOUND_S, "the re-enabled node to be accepted")


def test_a_full_replay_cache_fails_closed(make_node):
    # Capacity 1 is split over the cache's shards (one slot each, 16 shards): by the pigeonhole
    # principle 17 distinct verified nonces inside the window cannot all be remembered.
    node = make_node("[auth.signature]\nreplay_cache_capacity = 1\n")
    node.add_node("signer", node.material.signer)
    node.start()

    outcomes = [node.call(ROLL_DIE, metadata=signed_metadata(node.material.signer, "signer",
                                                             ROLL_DIE)) for _ in range(17)]

    codes = {o.code for o in outcomes}
    assert codes <= {OK, grpc.StatusCode.RESOURCE_EXHAUSTED}, \
        [(o.code, o.details) for o in outcomes]
    full = [o for o in outcomes if o.code == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert full, "a full replay cache must refuse new nonces, never accept them unremembered"
    assert_refused(node, full[0], grpc.StatusCode.RESOURCE_EXHAUSTED, "replay_cache_full")


def test_handler_principal_ignores_signature_headers_the_method_did_not_verify(make_node):
    node = make_node("[auth]\n" + rule(WHOAMI, authenticators=["token"]))
    node.add_node("admin-node", node.material.signer, "admin")
    alice = node.create_token("alice", "reader")
    node.start()
    forged = (("x-node-id", "admin-node"), ("x-node-timestamp", "1"),
              ("x-node-nonce", b64url(b"\0" * 16)),
              ("x-node-signature", b64url(b"not a signature")))

    outcome = node.call(WHOAMI, metadata=(("authorization", f"Bearer {alice}"),) + forged)

    assert outcome.code == OK, outcome.details
    who = outcome.response
    assert (who.kind, who.id, list(who.roles)) == ("user", "alice", ["reader"])
    assert_allowed(node, outcome, "user:alice")


# ================================================================================================
# Tokens


@pytest.fixture
def token_node(make_node):
    """RollDie accepts only tokens; WhoAmI any credential."""
    return make_node("[auth]\n" + rule(ROLL_DIE, authenticators=["token"]))


def bearer(token: str) -> tuple:
    return (("authorization", f"Bearer {token}"),)


def test_accepts_the_seed_spelling_access_token(token_node):
    node = token_node
    alice = node.create_token("alice", "dice")
    node.start()

    outcome = node.call(ROLL_DIE, metadata=(("access-token", alice),))

    assert_allowed(node, outcome, "user:alice")


def test_cli_sends_the_seed_spelling_access_token(token_node):
    node = token_node
    alice = node.create_token("alice", "dice")
    node.start()

    result = node.cli_call("whoami", None, "--token", alice, "--token-header", "access-token")

    assert result.stdout.strip() == f"user:alice roles=dice via=token node={AUDIENCE}"


def test_token_kind_becomes_the_principal_kind(token_node):
    node = token_node
    ci = node.create_token("ci-runner", "deploy", "--kind", "app")
    node.start()

    result = node.cli_call("whoami", None, "--token", ci)

    assert result.stdout.strip() == f"app:ci-runner roles=deploy via=token node={AUDIENCE}"


def test_refuses_an_unknown_token(token_node):
    node = token_node.start()

    outcome = node.call(ROLL_DIE, metadata=bearer("ngt_" + "A" * 43))

    assert_refused(node, outcome, UNAUTHENTICATED, "token_invalid")


def test_refuses_an_authorization_header_that_is_not_bearer(token_node):
    node = token_node
    alice = node.create_token("alice")
    node.start()

    outcome = node.call(ROLL_DIE, metadata=(("authorization", f"Basic {alice}"),))

    assert "authorization" in outcome.details
    assert_refused(node, outcome, UNAUTHENTICATED, "malformed")


def test_revoking_a_token_refuses_it_without_restart(token_node):
    node = token_node
    alice = node.create_token("alice")
    node.start()
    assert node.call(ROLL_DIE, metadata=bearer(alice)).code == OK
    pid = node.daemon.proc.pid

    node.admin("token", "revoke", "--token", alice)
    refused = ng.wait_until(lambda: (o := node.call(ROLL_DIE, metadata=bearer(alice))).code != OK
                            and o, CREDENTIALS_BOUND_S, "the revoked token to be refused")

    assert_refused(node, refused, UNAUTHENTICATED, "token_invalid")
    assert node.daemon.running() and node.daemon.proc.pid == pid, "no restart allowed"


def test_a_token_created_while_running_is_accepted_without_restart(token_node):
    node = token_node.start()

    alice = node.create_token("alice")

    ng.wait_until(lambda: node.call(ROLL_DIE, metadata=bearer(alice)).code == OK,
                  CREDENTIALS_BOUND_S, "the new token to be accepted")


def test_refuses_an_expired_token(token_node):
    node = token_node
    brief = node.create_token("alice", "", "--ttl", "1s")
    node.start()

    # token_expired (not token_invalid) shows the node knew the token: it refused it for its age.
    refused = ng.wait_until(
        lambda: (o := node.call(ROLL_DIE, metadata=bearer(brief))).code != OK and o,
        1.0 + CREDENTIALS_BOUND_S, "the token to expire")

    assert "expired" in refused.details
    assert_refused(node, refused, UNAUTHENTICATED, "token_expired")


# ================================================================================================
# App keys


@pytest.fixture
def app_key_node(make_node):
    """RollDie accepts only app keys."""
    return make_node("[auth]\n" + rule(ROLL_DIE, authenticators=["app_key"]))


def test_accepts_the_seed_spelling_app_key_app_secret(app_key_node):
    node = app_key_node
    secret = node.create_app_key("billing", "billing-key")
    node.start()

    outcome = node.call(ROLL_DIE, metadata=(("app_key", "billing-key"), ("app_secret", secret)))

    assert_allowed(node, outcome, "app:billing")


def test_cli_sends_the_seed_spelling_app_key_app_secret(app_key_node):
    node = app_key_node
    secret = node.create_app_key("billing", "billing-key", "dice")
    node.start()

    result = node.cli_call("whoami", None, "--app-key", "billing-key", "--app-secret", secret,
                           "--app-key-underscore")

    assert result.stdout.strip() == f"app:billing roles=dice via=app_key node={AUDIENCE}"


def test_refuses_a_wrong_app_secret(app_key_node):
    node = app_key_node
    secret = node.create_app_key("billing", "billing-key")
    node.start()
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")

    outcome = node.call(ROLL_DIE, metadata=(("app-key", "billing-key"), ("app-secret", wrong)))

    assert_refused(node, outcome, UNAUTHENTICATED, "app_key_invalid")


def test_refuses_an_app_key_without_its_secret_naming_the_header(app_key_node):
    node = app_key_node
    node.create_app_key("billing", "billing-key")
    node.start()

    outcome = node.call(ROLL_DIE, metadata=(("app-key", "billing-key"),))

    assert "app-secret" in outcome.details
    assert_refused(node, outcome, UNAUTHENTICATED, "malformed")


def test_disabling_an_app_key_refuses_it_without_restart(app_key_node):
    node = app_key_node
    secret = node.create_app_key("billing", "billing-key")
    node.start()
    metadata = (("app-key", "billing-key"), ("app-secret", secret))
    assert node.call(ROLL_DIE, metadata=metadata).code == OK

    node.admin("appkey", "disable", "--app-key", "billing-key")
    refused = ng.wait_until(lambda: (o := node.call(ROLL_DIE, metadata=metadata)).code != OK and o,
                            CREDENTIALS_BOUND_S, "the disabled app key to be refused")

    assert_refused(node, refused, UNAUTHENTICATED, "app_key_invalid")


# ================================================================================================
# mTLS with mtls_require_registered


@pytest.fixture
def registered_only_node(make_node):
    node = make_node("[auth]\nmtls_require_registered = true\n", client_auth="require")
    node.add_node("mtls-dice", node.material.outsider, "dice")
    return node.start()


def test_require_registered_refuses_an_unregistered_client_certificate(registered_only_node):
    node = registered_only_node

    outcome = node.call(ROLL_DIE, cert=node.material.stranger)  # valid cert from the node's CA

    entry = assert_refused(node, outcome, UNAUTHENTICATED, "mtls_unregistered")
    assert entry.get("client_cn") == "stranger"


def test_require_registered_accepts_a_registered_client_certificate(registered_only_node):
    node = registered_only_node

    outcome = node.call(ROLL_DIE, cert=node.material.mtls_dice)

    assert_allowed(node, outcome, "node:mtls-dice")


def test_require_registered_refuses_a_disabled_node_without_restart(registered_only_node):
    node = registered_only_node
    assert node.call(ROLL_DIE, cert=node.material.mtls_dice).code == OK

    node.admin("node", "disable", "--id", "mtls-dice")
    refused = ng.wait_until(
        lambda: (o := node.call(ROLL_DIE, cert=node.material.mtls_dice)).code != OK and o,
        CREDENTIALS_BOUND_S, "the disabled node's certificate to be refused")

    assert_refused(node, refused, UNAUTHENTICATED, "mtls_unregistered")


def test_without_require_registered_any_ca_issued_certificate_is_a_role_less_node(make_node):
    node = make_node(client_auth="require").start()

    result = node.cli_call("whoami", Credential("node:stranger", "", cert=node.material.stranger))

    assert result.stdout.strip() == f"node:stranger roles= via=mtls node={AUDIENCE}"


# ================================================================================================
# The access log and the handler


def test_a_refused_call_never_reaches_the_handler(make_node):
    node = make_node("[auth]\n" + rule(WHOAMI, roles=["admin"]))
    alice = node.create_token("alice", "reader")
    node.start()

    refused = node.call(WHOAMI, metadata=bearer(alice))
    allowed = node.call(PING, metadata=bearer(alice))

    # Every call is logged once when it finishes: a handled one with no reason, a refused one
    # with its reason. One line, with a reason, no OK: the call stopped before any service code.
    entries = node.log_entries(refused.user_agent)
    assert refused.code == PERMISSION_DENIED
    assert [e["status"] for e in entries] == ["PERMISSION_DENIED"], entries
    assert entries[0]["reason"].startswith("role_missing")
    assert all(e["status"] != "OK" for e in entries)
    handled = node.log_entries(allowed.user_agent)
    assert [(e["status"], "reason" in e) for e in handled] == [("OK", False)], handled


def test_no_secret_reaches_the_daemons_output(make_node):
    node = make_node("[auth]\n" + rule(ROLL_DIE, roles=["dice"]))
    cast = Cast(node)
    node.start()
    wrong_secret = "ngs_" + "w" * 43
    refused_and_allowed = [
        node.call(ROLL_DIE, cast.dice["token"]),
        node.call(ROLL_DIE, cast.other["token"]),                       # role_missing
        node.call(ROLL_DIE, cast.dice["app_key"]),
        node.call(ROLL_DIE, cast.other["app_key"]),                     # role_missing
        node.call(ROLL_DIE, metadata=(("app-key", "billing-key"), ("app-secret", wrong_secret))),
        node.call(ROLL_DIE, metadata=bearer(wrong_secret)),             # token_invalid
        node.call(ROLL_DIE, metadata=(("access-token", cast.secrets[0]),
                                      ("authorization", f"Bearer {cast.secrets[1]}"))),  # disagree
    ]
    assert [o.code for o in refused_and_allowed] == [OK, PERMISSION_DENIED, OK, PERMISSION_DENIED,
                                                     UNAUTHENTICATED, UNAUTHENTICATED,
                                                     UNAUTHENTICATED]
    for o in refused_and_allowed:
        assert node.log_entries(o.user_agent), f"call {o.user_agent} not logged"

    output = node.daemon_output()
    for secret in [*cast.secrets, wrong_secret]:
        assert secret not in output
        assert secret[4:20] not in output, "not even a prefix of a secret may be logged"


def test_permission_denied_names_the_needed_roles_and_no_secret(make_node):
    node = make_node("[auth]\n" + rule(ROLL_DIE, roles=["dice"]))
    cast = Cast(node)
    node.start()

    outcomes = [node.call(ROLL_DIE, cast.other[a]) for a in AUTHENTICATORS]

    for o in outcomes:
        assert o.code == PERMISSION_DENIED, o.details
        assert o.details.startswith("permission denied"), o.details
        assert all(secret not in o.details for secret in cast.secrets)
