"""Node registry end to end (issue 4): join-token enrolment, signing-key rotation, and disabling or
removing a node while the daemon runs.

A registry node is the real `nodegate serve` with a `[registry]` CA on an ephemeral port and
`tls.client_auth = "request"` (a joining node has no certificate yet). Every step an operator or a
new node takes goes through the real CLI (`node invite`, `join`, `keys rotate`, `call whoami`,
`node list|show`); administration over gRPC and direct AddNode requests use Python grpcio with
stubs generated from proto/nodegate/v1.

`nodegate call whoami` prints the principal the handler saw, e.g.
`node:node-b roles=r1,r2 via=mtls,signature node=e2e-node`. Each enrolled node gets three client
configs derived from the one `join` wrote: both credentials, mTLS only (no sign_key) and signature
only (no certificate), so a test can tell which authenticator accepted a call.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

import nodegate_testlib as ng

REGISTRY_ID = "e2e-node"  # [node] id written by ng.node_config
WHOAMI_RE = re.compile(
    r"^node:(?P<id>\S+) roles=(?P<roles>\S*) via=(?P<via>\S+) node=(?P<node>\S+)$")
TOKEN_REFUSED = "AddNode refused: UNAUTHENTICATED: join token: invalid, used or expired"
UNAUTHENTICATED_EXIT = 64 + 16  # an RPC error exits 64 + its gRPC code (docs/cli.md)
# auth.credentials_poll is 500 ms; the margin is for a machine busy compiling on every core.
CREDENTIALS_BOUND_S = 5.0
ADD_NODE = "/nodegate.v1.NodeRegistry/AddNode"
GET_TRUST_BUNDLE = "/nodegate.v1.NodeRegistry/GetTrustBundle"


@pytest.fixture(scope="module")
def v1(tmp_path_factory) -> ng.V1Stubs:
    return ng.generate_v1_stubs(tmp_path_factory.mktemp("v1_stubs"))


# ------------------------------------------------------------------------------------------------
# An enrolled node and the registry it joined


@dataclass
class Whoami:
    node_id: str
    roles: str
    via: str
    node: str


@dataclass
class Enrolled:
    """What `nodegate join` wrote into `dir`, plus derived single-credential client configs."""
    node_id: str
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "client.toml"

    @property
    def signing_pub(self) -> Path:
        return self.dir / "signing-pub.pem"

    def derived_config(self, name: str, drop: tuple[str, ...]) -> Path:
        lines = [line for line in self.config.read_text().splitlines()
                 if line.split("=", 1)[0].strip() not in drop]
        path = self.dir / name
        path.write_text("\n".join(lines) + "\n")
        return path

    @property
    def mtls_only(self) -> Path:
        return self.derived_config("mtls-only.toml", ("sign_key",))

    @property
    def signature_only(self) -> Path:
        return self.derived_config("signature-only.toml", ("cert", "key"))

    def whoami(self, config: Optional[Path] = None, *extra: str) -> subprocess.CompletedProcess:
        return ng.run_nodegate("call", "whoami", "--config", config or self.config, *extra,
                               check=False)


def parse_whoami(proc: subprocess.CompletedProcess) -> Whoami:
    assert proc.returncode == 0, f"whoami failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
    m = WHOAMI_RE.match(proc.stdout.strip())
    assert m, f"unexpected whoami output: {proc.stdout!r}"
    return Whoami(m["id"], m["roles"], m["via"], m["node"])


def refusal_code(proc: subprocess.CompletedProcess) -> str:
    """The status code name from `call failed: CODE: message`."""
    assert proc.returncode != 0, f"the call was expected to fail but printed {proc.stdout!r}"
    m = ng.CALL_FAILED_RE.search(proc.stderr)
    assert m, f"no 'call failed: CODE' in stderr: {proc.stderr!r}"
    return m.group(1)


@dataclass
class Registry:
    node: ng.SecureNode
    tmp: Path
    v1: ng.V1Stubs
    admin_token: Optional[str] = None

    @property
    def config(self) -> Path:
        return self.node.config

    @property
    def address(self) -> str:
        return self.node.address

    def invite(self, node_id: str, *extra: str) -> ng.Invitation:
        return ng.invite(self.config, node_id, *extra)

    def join(self, invitation: ng.Invitation, node_id: str, dirname: Optional[str] = None, *,
             extra: tuple[str, ...] = (), ca_fingerprint: Optional[str] = None,
             check: bool = True) -> subprocess.CompletedProcess:
        """`nodegate join` into tmp/<dirname or node_id>."""
        return ng.join(self.address, invitation, node_id, self.tmp / (dirname or node_id), *extra,
                       ca_fingerprint=ca_fingerprint, check=check)

    def enrol(self, node_id: str, *invite_args: str, alg: str = "ed25519") -> Enrolled:
        invitation = self.invite(node_id, *invite_args)
        self.join(invitation, node_id, extra=("--alg", alg))
        return Enrolled(node_id, self.tmp / node_id)

    def show(self, node_id: str) -> dict[str, str]:
        return ng.parse_inspect(ng.run_nodegate("node", "show", "--config", self.config,
                                                "--id", node_id).stdout)

    # -- NodeRegistry over gRPC with an admin token (TLS without a client certificate) --

    def admin_stub(self, channel: grpc.Channel):
        return self.v1.registry_pb2_grpc.NodeRegistryStub(channel)

    def admin_metadata(self) -> tuple:
        if self.admin_token is None:
            self.admin_token = ng.create_token(self.config, "ops", "admin")
            # The CLI wrote the token into the store; the daemon sees it within credentials_poll.
            ng.wait_until(lambda: self._list_nodes_once() is not None, CREDENTIALS_BOUND_S,
                          "the admin token to be accepted")
        return (("authorization", f"Bearer {self.admin_token}"),)

    def _list_nodes_once(self):
        with ng.fresh_channel(self.address, ng.channel_credentials(self.node.pki.ca)) as channel:
            return self.admin_stub(channel).ListNodes(
                self.v1.registry_pb2.ListNodesRequest(page_size=100),
                metadata=(("authorization", f"Bearer {self.admin_token}"),),
                timeout=ng.RPC_TIMEOUT_S)

    def admin(self, method: str, request):
        metadata = self.admin_metadata()
        with ng.fresh_channel(self.address, ng.channel_credentials(self.node.pki.ca)) as channel:
            return getattr(self.admin_stub(channel), method)(request, metadata=metadata,
                                                             timeout=ng.RPC_TIMEOUT_S)

    def list_node_ids(self, page_size: int = 2) -> list[str]:
        """ListNodes, following next_page_token to the end."""
        ids, token = [], ""
        for _ in range(100):
            page = self.admin("ListNodes", self.v1.registry_pb2.ListNodesRequest(
                page_size=page_size, page_token=token))
            assert len(page.nodes) <= page_size
            ids += [n.id for n in page.nodes]
            token = page.next_page_token
            if not token:
                return ids
        raise AssertionError("ListNodes never returned an empty next_page_token")

    def add_node_raw(self, request) -> grpc.StatusCode:
        """AddNode from a client without certificate; the status code."""
        with ng.fresh_channel(self.address, ng.channel_credentials(self.node.pki.ca)) as channel:
            try:
                self.admin_stub(channel).AddNode(request, timeout=ng.RPC_TIMEOUT_S)
                return grpc.StatusCode.OK
            except grpc.RpcError as err:
                return err.code()

    def access_log_after_sentinel(self) -> list[dict]:
        """The whole access log, after a Ping made now has been logged (it is written in order)."""
        return sentinel_access_log(self.node)


def sentinel_access_log(node: ng.SecureNode) -> list[dict]:
    ng.run_nodegate("call", "ping", "--target", node.address, "--ca", node.pki.ca)
    ng.wait_until(lambda: any(e.get("method") == "/nodegate.v1.Identity/Ping"
                              for e in node.daemon.access_log()),
                  ng.RPC_TIMEOUT_S, "the sentinel Ping in the access log")
    return node.daemon.access_log()


@pytest.fixture
def make_registry(tmp_path, pki, start_node, v1):
    """Factory: make_registry(extra_toml="", **registry_settings) -> a running registry node."""

    def make(extra_toml: str = "", **registry_settings) -> Registry:
        extra = ng.registry_toml(pki, **registry_settings) + extra_toml
        node = ng.make_secure_node(tmp_path, pki, start_node, client_auth="request",
                                   extra_toml=extra)
        return Registry(node, tmp_path, v1)

    return make


@pytest.fixture
def registry(make_registry) -> Registry:
    return make_registry()


# ================================================================================================
# Enrolment


def test_joined_node_calls_a_protected_method_with_mtls_and_with_its_signature(registry):
    invitation = registry.invite("node-b", "--roles", "r1,r2")

    registry.join(invitation, "node-b")
    node_b = Enrolled("node-b", registry.tmp / "node-b")

    for name in ("ca.pem", "node.pem", "node-key.pem", "signing-key.pem", "signing-pub.pem",
                 "client.toml"):
        assert (node_b.dir / name).is_file(), f"join did not write {name}"
    assert ng.load_cert(node_b.dir / "node.pem").subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value == "node-b"
    both = parse_whoami(node_b.whoami())
    mtls = parse_whoami(node_b.whoami(node_b.mtls_only))
    signature = parse_whoami(node_b.whoami(node_b.signature_only))
    assert (both.node_id, both.roles, both.via, both.node) == ("node-b", "r1,r2", "mtls,signature",
                                                               REGISTRY_ID)
    assert (mtls.node_id, mtls.roles, mtls.via) == ("node-b", "r1,r2", "mtls")
    assert (signature.node_id, signature.roles, signature.via) == ("node-b", "r1,r2", "signature")


def test_joined_node_is_listed_with_its_roles_key_algorithm_and_certificate(registry):
    node_b = registry.enrol("node-b", "--roles", "r1,r2", alg="ecdsa-p256-sha256")

    shown = registry.show("node-b")

    assert ng.registered_nodes(registry.config) == ["node-b"]
    assert registry.list_node_ids() == ["node-b"]
    assert shown["enabled"] == "true" and shown["roles"] == "r1,r2"
    assert shown["algorithm"] == "ecdsa-p256-sha256"
    assert int(shown["cert_serial"], 16) == ng.load_cert(node_b.dir / "node.pem").serial_number
    info = registry.admin("GetNode", registry.v1.registry_pb2.GetNodeRequest(id="node-b"))
    registered = serialization.load_pem_public_key(info.public_key_pem.encode())
    written = serialization.load_pem_public_key(node_b.signing_pub.read_bytes())
    assert registered.public_numbers() == written.public_numbers()


@pytest.mark.parametrize("alg", ["ed25519", "ecdsa-p256-sha256", "sm2-sm3"])
def test_joined_node_signs_with_the_algorithm_it_chose(registry, alg):
    node_b = registry.enrol("node-b", alg=alg)

    who = parse_whoami(node_b.whoami(node_b.signature_only))

    assert (who.node_id, who.via) == ("node-b", "signature")
    assert registry.show("node-b")["algorithm"] == alg


def test_reused_token_is_refused_and_leaves_the_enrolled_node_unchanged(registry):
    invitation = registry.invite("node-b", "--roles", "r1")
    registry.join(invitation, "node-b")
    before = registry.show("node-b")
    original_pub = (registry.tmp / "node-b" / "signing-pub.pem").read_text()

    again = registry.join(invitation, "node-b", "node-b-again", check=False)

    assert again.returncode == UNAUTHENTICATED_EXIT and TOKEN_REFUSED in again.stderr, again.stderr
    assert not (registry.tmp / "node-b-again" / "client.toml").exists()
    assert registry.show("node-b") == before
    assert ng.registered_nodes(registry.config) == ["node-b"]
    info = registry.admin("GetNode", registry.v1.registry_pb2.GetNodeRequest(id="node-b"))
    assert info.public_key_pem.strip() == original_pub.strip()
    assert registry.list_node_ids() == ["node-b"]


def test_expired_token_is_refused_and_leaves_no_trace(registry):
    invitation = registry.invite("node-b", "--ttl", "1s")
    invited = time.monotonic()
    # Expiry is the point of this test, so wait for it (with a margin for second rounding).
    ng.wait_until(lambda: time.monotonic() - invited > 2.2, 5, "the token to expire")

    refused = registry.join(invitation, "node-b", check=False)

    assert refused.returncode == UNAUTHENTICATED_EXIT and TOKEN_REFUSED in refused.stderr, refused.stderr
    assert ng.registered_nodes(registry.config) == []
    assert registry.list_node_ids() == []
    assert not (registry.tmp / "node-b" / "client.toml").exists()


def test_unknown_token_is_refused_and_leaves_no_trace(registry):
    real = registry.invite("node-b")
    forged = ng.Invitation("ngj_" + "A" * 43, real.ca_fingerprint)

    refused = registry.join(forged, "node-b", check=False)

    assert refused.returncode == UNAUTHENTICATED_EXIT and TOKEN_REFUSED in refused.stderr, refused.stderr
    assert registry.list_node_ids() == []


def test_token_for_another_node_id_is_refused_and_leaves_no_trace(registry):
    invitation = registry.invite("node-c")

    refused = registry.join(invitation, "node-b", check=False)

    assert refused.returncode == 64 + 7, refused.stderr  # PERMISSION_DENIED
    assert "AddNode refused: PERMISSION_DENIED: join token: issued for another node id" in refused.stderr
    assert ng.registered_nodes(registry.config) == []
    assert registry.list_node_ids() == []
    with pytest.raises(grpc.RpcError) as err:
        registry.admin("GetNode", registry.v1.registry_pb2.GetNodeRequest(id="node-b"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_add_node_answers_unauthenticated_for_a_used_token_and_permission_denied_for_another_id(
        registry):
    invitation = registry.invite("node-b")
    first = registry.add_node_raw(ng.add_node_request(registry.v1, invitation.token, "node-b"))
    other = registry.invite("node-c")

    reused = registry.add_node_raw(ng.add_node_request(registry.v1, invitation.token, "node-b"))
    wrong_id = registry.add_node_raw(ng.add_node_request(registry.v1, other.token, "node-b"))

    assert first == grpc.StatusCode.OK
    assert reused == grpc.StatusCode.UNAUTHENTICATED
    assert wrong_id == grpc.StatusCode.PERMISSION_DENIED
    assert registry.list_node_ids() == ["node-b"]


def test_a_token_raced_by_concurrent_add_node_calls_enrols_exactly_once(registry):
    invitation = registry.invite("node-b")
    requests = [ng.add_node_request(registry.v1, invitation.token, "node-b") for _ in range(8)]

    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        codes = list(pool.map(registry.add_node_raw, requests))

    assert sorted(c.name for c in codes) == ["OK"] + ["UNAUTHENTICATED"] * 7
    winner = requests[codes.index(grpc.StatusCode.OK)]
    assert registry.list_node_ids() == ["node-b"]
    assert registered_key(registry, "node-b") == spki(
        serialization.load_pem_public_key(winner.public_key_pem.encode()))


def test_malformed_add_node_neither_spends_the_token_nor_leaves_a_trace(registry):
    invitation = registry.invite("node-b")

    bad_csr = registry.add_node_raw(
        ng.add_node_request(registry.v1, invitation.token, "node-b", csr_pem="not a CSR"))

    assert bad_csr == grpc.StatusCode.INVALID_ARGUMENT
    assert registry.list_node_ids() == []
    registry.join(invitation, "node-b")  # the token is still good
    assert parse_whoami(Enrolled("node-b", registry.tmp / "node-b").whoami()).node_id == "node-b"


def test_join_with_a_wrong_ca_fingerprint_is_aborted_before_the_token_is_sent(registry, other_ca):
    invitation = registry.invite("node-b")
    wrong = ng.sha256_fingerprint(ng.load_cert(other_ca.ca))

    aborted = registry.join(invitation, "node-b", ca_fingerprint=wrong, check=False)

    assert aborted.returncode == 1, aborted.stderr
    assert "CA fingerprint mismatch" in aborted.stderr and "not joining" in aborted.stderr
    assert not (registry.tmp / "node-b" / "client.toml").exists()
    methods = [e["method"] for e in registry.access_log_after_sentinel()]
    assert GET_TRUST_BUNDLE in methods and ADD_NODE not in methods
    assert registry.list_node_ids() == []
    # The token never left the machine, so it still enrols the node.
    registry.join(invitation, "node-b")
    assert parse_whoami(Enrolled("node-b", registry.tmp / "node-b").whoami()).node_id == "node-b"


def test_join_against_an_impostor_registry_is_aborted_and_the_impostor_never_sees_the_token(
        registry, other_ca, start_node, tmp_path):
    invitation = registry.invite("node-b")
    impostor_dir = tmp_path / "impostor"
    impostor_dir.mkdir()
    impostor = ng.make_secure_node(impostor_dir, other_ca, start_node, client_auth="request",
                                   extra_toml=ng.registry_toml(other_ca))

    aborted = ng.join(impostor.address, invitation, "node-b", tmp_path / "node-b", check=False)

    assert aborted.returncode == 1, aborted.stderr
    assert "CA fingerprint mismatch" in aborted.stderr, aborted.stderr
    methods = [e["method"] for e in sentinel_access_log(impostor)]
    assert GET_TRUST_BUNDLE in methods and ADD_NODE not in methods
    registry.join(invitation, "node-b")
    assert parse_whoami(Enrolled("node-b", tmp_path / "node-b").whoami()).node_id == "node-b"


# ================================================================================================
# Key rotation


ROTATED_RE = re.compile(r"^rotated (?P<id>\S+) to (?P<alg>\S+); previous key valid until "
                        r"(?P<until>\S+); (?P<peers>\d+) peer key\(s\) known$")


def rotate(node: Enrolled, alg: str = "ed25519") -> re.Match:
    out = ng.run_nodegate("keys", "rotate", "--config", node.config, "--alg", alg).stdout.strip()
    m = ROTATED_RE.match(out)
    assert m, f"unexpected `keys rotate` output: {out!r}"
    return m


def previous_key(node: Enrolled) -> Path:
    return node.dir / "signing-key.pem.previous"


def public_of(private_pem: Path) -> bytes:
    key = serialization.load_pem_private_key(private_pem.read_bytes(), password=None)
    return spki(key.public_key())


def spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def registered_key(registry: Registry, node_id: str) -> bytes:
    info = registry.admin("GetNode", registry.v1.registry_pb2.GetNodeRequest(id=node_id))
    return spki(serialization.load_pem_public_key(info.public_key_pem.encode()))


def test_rotation_leaves_no_stale_public_key_beside_the_new_key(registry):
    node_b = registry.enrol("node-b")

    rotate(node_b)

    assert spki(serialization.load_pem_public_key(node_b.signing_pub.read_bytes())) == \
        public_of(node_b.dir / "signing-key.pem")


@pytest.mark.parametrize("old_alg,new_alg", [("ed25519", "ecdsa-p256-sha256"),
                                             ("sm2-sm3", "ed25519")])
def test_new_and_previous_keys_both_verify_during_the_grace_period(make_registry, old_alg,
                                                                   new_alg):
    registry = make_registry(key_grace="1h")
    node_b = registry.enrol("node-b", alg=old_alg)
    old_key = (node_b.dir / "signing-key.pem").read_bytes()

    rotated = rotate(node_b, new_alg)

    assert rotated["id"] == "node-b" and rotated["alg"] == new_alg
    assert previous_key(node_b).read_bytes() == old_key
    assert registry.show("node-b")["algorithm"] == new_alg
    assert registered_key(registry, "node-b") == public_of(node_b.dir / "signing-key.pem")
    new = parse_whoami(node_b.whoami(node_b.signature_only))
    old = parse_whoami(node_b.whoami(node_b.signature_only, "--sign-key", previous_key(node_b)))
    assert (new.node_id, new.via) == ("node-b", "signature")
    assert (old.node_id, old.via) == ("node-b", "signature")
    until = datetime.datetime.fromisoformat(rotated["until"].replace("Z", "+00:00"))
    remaining = until - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=55) < remaining <= datetime.timedelta(hours=1)


def test_previous_key_is_refused_once_the_grace_period_ends(make_registry):
    registry = make_registry(key_grace="3s")
    node_b = registry.enrol("node-b")
    rotated = rotate(node_b)
    until = datetime.datetime.fromisoformat(rotated["until"].replace("Z", "+00:00")).timestamp()

    def old_key_refused() -> Optional[str]:
        proc = node_b.whoami(node_b.signature_only, "--sign-key", previous_key(node_b))
        return refusal_code(proc) if proc.returncode != 0 else None

    code = ng.wait_until(old_key_refused, 20, "the previous key to be refused", interval=0.2)

    assert code == "UNAUTHENTICATED"
    assert time.time() >= until - 1.0, "refused before the printed end of the grace period"
    new = parse_whoami(node_b.whoami(node_b.signature_only))
    assert (new.node_id, new.via) == ("node-b", "signature")
    # mTLS does not depend on the signing key.
    assert parse_whoami(node_b.whoami(node_b.mtls_only)).via == "mtls"


def test_key_rotation_returns_the_public_keys_of_the_other_enabled_nodes(registry):
    node_b = registry.enrol("node-b")
    registry.enrol("node-c")
    registry.enrol("node-d")
    registry.admin("DisableNode", registry.v1.registry_pb2.DisableNodeRequest(id="node-d"))

    rotated = rotate(node_b)

    assert int(rotated["peers"]) == 1  # node-c; not the caller, not disabled node-d


def test_rotation_after_rotation_retires_the_first_key(make_registry):
    registry = make_registry(key_grace="1h")
    node_b = registry.enrol("node-b")
    first = node_b.dir / "first-key.pem"
    first.write_bytes((node_b.dir / "signing-key.pem").read_bytes())

    rotate(node_b)
    rotate(node_b)

    refused = node_b.whoami(node_b.signature_only, "--sign-key", first)
    assert refusal_code(refused) == "UNAUTHENTICATED"
    assert parse_whoami(node_b.whoami(node_b.signature_only,
                                      "--sign-key", previous_key(node_b))).via == "signature"
    assert parse_whoami(node_b.whoami(node_b.signature_only)).via == "signature"


def test_a_rotated_out_key_cannot_rotate_the_node_again(make_registry):
    # Whoever stole the key the node rotated away from may still sign calls until the grace ends,
    # but must not rotate in a key of their own (demoting the node's real key to "previous").
    registry = make_registry(key_grace="1h")
    node_b = registry.enrol("node-b")
    rotate(node_b)
    legit = node_b.dir / "legit-key.pem"
    legit.write_bytes((node_b.dir / "signing-key.pem").read_bytes())
    registered = registered_key(registry, "node-b")
    (node_b.dir / "signing-key.pem").write_bytes(previous_key(node_b).read_bytes())

    proc = ng.run_nodegate("keys", "rotate", "--config", node_b.config, "--alg", "ed25519",
                           check=False)

    assert proc.returncode != 0, proc.stdout
    assert "needs a signature by the node's current key, not the previous one" in proc.stderr, \
        proc.stderr
    assert registered_key(registry, "node-b") == registered
    assert parse_whoami(node_b.whoami(node_b.signature_only, "--sign-key", legit)).via == "signature"


# ================================================================================================
# Disabling and removing a node (NodeRegistry admin methods; no restart)


REQUIRE_REGISTERED = "[auth]\nmtls_require_registered = true\n"


@pytest.fixture
def strict_registry(make_registry) -> Registry:
    """A registry whose client certificates vouch only for registered, enabled nodes."""
    return make_registry(REQUIRE_REGISTERED)


def test_disabled_node_is_refused_at_once_by_signature_and_mtls(strict_registry):
    registry = strict_registry
    node_b = registry.enrol("node-b")
    assert parse_whoami(node_b.whoami(node_b.signature_only)).via == "signature"
    assert parse_whoami(node_b.whoami(node_b.mtls_only)).via == "mtls"
    registry.admin_metadata()  # the token is made and accepted before the clock starts

    registry.admin("DisableNode", registry.v1.registry_pb2.DisableNodeRequest(id="node-b"))

    # No polling: the very next call must be refused.
    assert refusal_code(node_b.whoami(node_b.signature_only)) == "UNAUTHENTICATED"
    assert refusal_code(node_b.whoami(node_b.mtls_only)) == "UNAUTHENTICATED"
    assert refusal_code(node_b.whoami()) == "UNAUTHENTICATED"
    assert registry.show("node-b")["enabled"] == "false"


def test_re_enabled_node_is_accepted_again(strict_registry):
    registry = strict_registry
    node_b = registry.enrol("node-b")
    registry.admin("DisableNode", registry.v1.registry_pb2.DisableNodeRequest(id="node-b"))
    assert refusal_code(node_b.whoami()) == "UNAUTHENTICATED"

    ng.run_nodegate("node", "enable", "--config", registry.config, "--id", "node-b")

    # The CLI writes the store; the daemon picks it up within credentials_poll.
    ng.wait_until(lambda: node_b.whoami().returncode == 0, CREDENTIALS_BOUND_S,
                  "node-b to be accepted again")
    assert parse_whoami(node_b.whoami(node_b.signature_only)).via == "signature"
    assert parse_whoami(node_b.whoami(node_b.mtls_only)).via == "mtls"


def test_removed_node_is_refused_at_once_by_signature_and_mtls(strict_registry):
    registry = strict_registry
    node_b = registry.enrol("node-b")
    node_c = registry.enrol("node-c")
    assert parse_whoami(node_b.whoami()).via == "mtls,signature"
    registry.admin_metadata()

    registry.admin("RemoveNode", registry.v1.registry_pb2.RemoveNodeRequest(id="node-b"))

    assert refusal_code(node_b.whoami(node_b.signature_only)) == "UNAUTHENTICATED"
    assert refusal_code(node_b.whoami(node_b.mtls_only)) == "UNAUTHENTICATED"
    assert registry.list_node_ids() == ["node-c"]
    assert ng.registered_nodes(registry.config) == ["node-c"]
    assert parse_whoami(node_c.whoami()).node_id == "node-c"  # the others are untouched


def test_removed_nodes_certificate_stays_refused_after_its_id_is_enrolled_again(strict_registry):
    registry = strict_registry
    old = registry.enrol("node-b")
    registry.admin("RemoveNode", registry.v1.registry_pb2.RemoveNodeRequest(id="node-b"))
    assert refusal_code(old.whoami(old.mtls_only)) == "UNAUTHENTICATED"

    registry.join(registry.invite("node-b"), "node-b", "node-b-reprovisioned")

    new = Enrolled("node-b", registry.tmp / "node-b-reprovisioned")
    assert parse_whoami(new.whoami(new.mtls_only)).via == "mtls"
    assert refusal_code(old.whoami(old.signature_only)) == "UNAUTHENTICATED"  # key: replaced
    assert refusal_code(old.whoami(old.mtls_only)) == "UNAUTHENTICATED"  # certificate: revived


def test_node_disabled_with_the_cli_is_refused_without_restart(strict_registry):
    registry = strict_registry
    node_b = registry.enrol("node-b")

    ng.run_nodegate("node", "disable", "--config", registry.config, "--id", "node-b")

    ng.wait_until(lambda: node_b.whoami(node_b.signature_only).returncode != 0,
                  CREDENTIALS_BOUND_S, "the signature of disabled node-b to be refused")
    assert refusal_code(node_b.whoami(node_b.mtls_only)) == "UNAUTHENTICATED"


def test_admin_methods_refuse_a_node_without_the_admin_role(registry):
    node_b = registry.enrol("node-b", "--roles", "r1")
    creds = ng.channel_credentials(node_b.dir / "ca.pem", node_b.dir / "node.pem",
                                   node_b.dir / "node-key.pem")

    with ng.fresh_channel(registry.address, creds, "localhost") as channel:
        with pytest.raises(grpc.RpcError) as err:
            registry.admin_stub(channel).DisableNode(
                registry.v1.registry_pb2.DisableNodeRequest(id="node-b"), timeout=ng.RPC_TIMEOUT_S)

    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert registry.show("node-b")["enabled"] == "true"


def test_admin_methods_refuse_a_caller_without_credentials(registry):
    anonymous = ng.channel_credentials(registry.node.pki.ca)  # TLS, no client certificate
    with ng.fresh_channel(registry.address, anonymous) as channel:
        with pytest.raises(grpc.RpcError) as err:
            registry.admin_stub(channel).ListNodes(registry.v1.registry_pb2.ListNodesRequest(),
                                                   timeout=ng.RPC_TIMEOUT_S)

    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
