"""Interop: the Python client package (clients/python/nodegate_client) against the real daemon.

The package signs calls with wire format v1 (docs/auth.md, design §3) using each of the three algorithms
(ecdsa-p256-sha256 and ed25519 through python3-cryptography, sm2-sm3 through the system libcrypto via
ctypes), sends tokens and app keys, and builds sync and asyncio channels. Everything runs against a real
`nodegate serve` with certificates from `nodegate pki` and credentials written by the `nodegate` CLI.

The node's policy (config rules):
  /api.DiceService/RollDie       only the per-call signature, role "dice"
  /nodegate.v1.Identity/WhoAmI   signature, token or app key, but not the bare mTLS certificate — so a
                                 successful WhoAmI proves the per-call credential was what authenticated.

WhoAmI reports the Principal of the Authorizer's decision at the server core's dispatch step (rpc::Server;
the handler gets it in rpc::CallInfo::principal), and that decision counts only the authenticators the
method's rule accepts. These channels also present the mTLS client certificate, which the WhoAmI rule does
not accept, so `authenticators` must name exactly the per-call credential: "equals", not "contains".
"""

from __future__ import annotations

import asyncio
import collections
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

import nodegate_testlib as ng

CLIENT_DIR = ng.SOURCE_DIR / "clients" / "python"
if str(CLIENT_DIR) not in sys.path:  # the tests need no prior install step
    sys.path.insert(0, str(CLIENT_DIR))

import nodegate_client as nc  # noqa: E402
from nodegate_client import signing  # noqa: E402

AUDIENCE = "e2e-node"  # [node] id written by nodegate_testlib.node_config
ALGORITHMS = ["sm2-sm3", "ecdsa-p256-sha256", "ed25519"]
SM2_ID = "1234567812345678"

POLICY = """
[[auth.rule]]
method = "/api.DiceService/RollDie"
authenticators = ["signature"]
roles = ["dice"]

[[auth.rule]]
method = "/nodegate.v1.Identity/WhoAmI"
authenticators = ["signature", "token", "app_key"]
"""

# How long a credential written by the CLI may take to reach the running daemon (it polls the store).
PICKUP_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------------------------------
# Fixtures: one daemon for the module; every test registers its own, uniquely named credentials.


@pytest.fixture(scope="module", autouse=True)
def nodegate_binary():
    if not ng.NODEGATE_BIN.is_file():
        pytest.fail(f"nodegate binary not found at {ng.NODEGATE_BIN} (set NODEGATE_BIN)", pytrace=False)


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    return ng.generate_stubs(tmp_path_factory.mktemp("py-generated"))


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return ng.generate_identity_stubs(tmp_path_factory.mktemp("py-identity"))


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> ng.SecureNode:
    workdir = tmp_path_factory.mktemp("node")
    daemons: list[ng.Daemon] = []

    def start(config: Path) -> ng.Daemon:
        daemon = ng.Daemon(config, workdir / f"daemon{len(daemons)}")
        daemons.append(daemon)
        daemon.start().wait_listening()
        return daemon

    try:
        yield ng.make_secure_node(workdir, ng.Pki(workdir / "pki").init(), start, extra_toml=POLICY)
    finally:
        for daemon in daemons:
            daemon.stop()


class Keys:
    def __init__(self, directory: Path):
        self.dir = directory
        self.private = directory / "signing-key.pem"
        self.public = directory / "signing-pub.pem"


def keys_gen(directory: Path, alg: str) -> Keys:
    ng.run_nodegate("keys", "gen", "--alg", alg, "--out", directory)
    keys = Keys(directory)
    assert keys.private.is_file() and keys.public.is_file()
    return keys


@pytest.fixture(scope="module")
def registered(node, tmp_path_factory) -> dict[str, tuple[str, Keys]]:
    """One registered node per algorithm, role "dice": alg -> (node id, keys)."""
    out = {}
    for alg in ALGORITHMS:
        node_id = f"py-{alg}"
        keys = keys_gen(tmp_path_factory.mktemp(f"keys-{alg}"), alg)
        ng.run_nodegate("node", "add", "--config", node.config, "--id", node_id, "--alg", alg,
                        "--public-key", keys.public, "--roles", "dice")
        out[alg] = (node_id, keys)
    return out


# --------------------------------------------------------------------------------------------------
# Helpers


def channel(node: ng.SecureNode, **kwargs) -> grpc.Channel:
    """A sync channel made by the package: mTLS with the dev client certificate + the given call creds.
    Its own subchannel pool, so nothing is shared with another test's connection."""
    return nc.create_client_channel(node.address, node.pki.ca, node.client.cert, node.client.key,
                                    options=[("grpc.use_local_subchannel_pool", 1)], **kwargs)


def roll(stubs, ch: grpc.Channel) -> int:
    return stubs.dice_pb2_grpc.DiceServiceStub(ch).RollDie(stubs.dice_pb2.RollDieRequest(),
                                                          timeout=ng.RPC_TIMEOUT_S).value


def whoami(identity, ch: grpc.Channel):
    return identity.identity_pb2_grpc.IdentityStub(ch).WhoAmI(identity.identity_pb2.WhoAmIRequest(),
                                                               timeout=ng.RPC_TIMEOUT_S)


def rpc_error(fn) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value


def wait_accepted(fn, what: str):
    """The daemon picks up CLI-written credentials within about half a second: poll, with a deadline."""
    def attempt():
        try:
            return fn() or True
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNAUTHENTICATED:
                return None
            raise
    return ng.wait_until(attempt, PICKUP_TIMEOUT_S, what, interval=0.1)


def access_log_reasons(node: ng.SecureNode) -> collections.Counter:
    """Rejection reasons in the access log; a reason reads `name: detail`."""
    return collections.Counter(e["reason"].split(":", 1)[0] for e in node.daemon.access_log()
                               if e.get("reason"))


def openssl_sm2_verify(pub: Path, data: bytes, sig: bytes, tmp: Path) -> subprocess.CompletedProcess:
    (tmp / "data.bin").write_bytes(data)
    (tmp / "sig.der").write_bytes(sig)
    return subprocess.run(["openssl", "dgst", "-sm3", "-verify", str(pub), "-sigopt", f"distid:{SM2_ID}",
                           "-signature", str(tmp / "sig.der"), str(tmp / "data.bin")],
                          capture_output=True, text=True, timeout=ng.CLI_TIMEOUT_S)


# --------------------------------------------------------------------------------------------------
# The string to sign and the signers, without a daemon


def test_canonical_string_is_exactly_the_v1_bytes():
    got = nc.canonical_string("/api.DiceService/RollDie", "node-b", "node-a", "1700000000123",
                              "AAECAwQFBgcICQoLDA0ODw")
    assert got == (b"NODEGATE-SIG-V1\n/api.DiceService/RollDie\nnode-b\nnode-a\n1700000000123\n"
                   b"AAECAwQFBgcICQoLDA0ODw")
    assert not got.endswith(b"\n")
    with pytest.raises(ValueError):  # a newline inside a field would make the string ambiguous
        nc.canonical_string("/a.B/C", "x\ny", "n", "1", "AAAAAAAAAAAAAAAAAAAAAA")


def test_full_method_is_service_url_path_plus_method():
    assert nc.full_method("https://127.0.0.1:50061/api.DiceService", "RollDie") == "/api.DiceService/RollDie"
    assert (nc.full_method("https://localhost/nodegate.v1.Identity", "WhoAmI")
            == "/nodegate.v1.Identity/WhoAmI")


def test_signature_plugin_headers(tmp_path):
    keys = keys_gen(tmp_path / "k", "ed25519")
    plugin = nc.SignatureAuthPlugin(nc.load_signer(keys.private), "node-a", "node-b",
                                    clock_ms=lambda: 1700000000123)
    md1 = dict(plugin.metadata_for("/api.DiceService/RollDie"))
    md2 = dict(plugin.metadata_for("/api.DiceService/RollDie"))
    assert set(md1) == {"x-node-id", "x-node-timestamp", "x-node-nonce", "x-node-signature"}
    assert md1["x-node-id"] == "node-a" and md1["x-node-timestamp"] == "1700000000123"
    assert len(nc.b64url_decode(md1["x-node-nonce"])) == 16 and "=" not in md1["x-node-nonce"]
    assert md1["x-node-nonce"] != md2["x-node-nonce"], "every call needs a fresh nonce"
    data = nc.canonical_string("/api.DiceService/RollDie", "node-b", "node-a", "1700000000123",
                               md1["x-node-nonce"])
    assert nc.load_verifier(keys.public).verify(nc.b64url_decode(md1["x-node-signature"]), data)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_load_signer_detects_the_algorithm_from_the_key(tmp_path, alg):
    keys = keys_gen(tmp_path / alg, alg)
    signer = nc.load_signer(keys.private.read_bytes())
    assert signer.algorithm == alg
    assert nc.load_signer(keys.private).algorithm == alg  # a path works too
    assert signer.public_key_pem() == keys.public.read_bytes()
    verifier = nc.load_verifier(keys.public)
    assert verifier.algorithm == alg
    sig = signer.sign(b"data")
    assert verifier.verify(sig, b"data") and not verifier.verify(sig, b"datA")


def test_sm2_ctypes_signatures_cross_check_with_openssl_cli(tmp_path):
    """Both directions: the ctypes signer's DER signature verifies with `openssl dgst -sm3 ... distid`,
    and a signature made by the openssl CLI verifies with the ctypes verifier."""
    keys = keys_gen(tmp_path / "sm2", "sm2-sm3")
    signer = nc.load_signer(keys.private)
    plugin = nc.SignatureAuthPlugin(signer, "node-a", AUDIENCE)
    md = dict(plugin.metadata_for("/api.DiceService/RollDie"))
    data = nc.canonical_string("/api.DiceService/RollDie", AUDIENCE, "node-a", md["x-node-timestamp"],
                               md["x-node-nonce"])
    sig = nc.b64url_decode(md["x-node-signature"])
    assert sig[0] == 0x30, "DER SEQUENCE"
    ok = openssl_sm2_verify(keys.public, data, sig, tmp_path)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout, ok.stdout + ok.stderr
    bad = openssl_sm2_verify(keys.public, data + b"x", sig, tmp_path)
    assert bad.returncode != 0, "openssl must refuse a signature over other bytes"

    (tmp_path / "data.bin").write_bytes(data)
    made = subprocess.run(["openssl", "dgst", "-sm3", "-sign", str(keys.private), "-sigopt",
                           f"distid:{SM2_ID}", "-out", str(tmp_path / "cli.sig"), str(tmp_path / "data.bin")],
                          capture_output=True, text=True, timeout=ng.CLI_TIMEOUT_S)
    assert made.returncode == 0, made.stderr
    verifier = nc.load_verifier(keys.public)
    assert verifier.verify((tmp_path / "cli.sig").read_bytes(), data)
    assert not verifier.verify((tmp_path / "cli.sig").read_bytes(), data + b"x")


# --------------------------------------------------------------------------------------------------
# Signed calls against the daemon


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_signed_calls_are_accepted(node, stubs, identity, registered, alg):
    node_id, keys = registered[alg]
    signer = nc.load_signer(keys.private)
    assert signer.algorithm == alg
    ch = channel(node, signer=signer, node_id=node_id, audience=AUDIENCE)
    try:
        wait_accepted(lambda: roll(stubs, ch), f"the daemon to accept {alg} signatures from {node_id}")
        values = [roll(stubs, ch) for _ in range(30)]  # 30 calls, 30 nonces: none is a replay
        assert set(values) <= set(range(1, 7))
        me = whoami(identity, ch)
        assert (me.kind, me.id) == ("node", node_id), f"node:{node_id} expected, got {me.kind}:{me.id}"
        assert list(me.authenticators) == ["signature"], list(me.authenticators)
        assert "dice" in me.roles
        assert me.node_id == AUDIENCE
    finally:
        ch.close()


def test_mtls_alone_is_not_enough_for_the_signed_only_method(node, stubs, identity):
    ch = channel(node)
    try:
        assert rpc_error(lambda: roll(stubs, ch)).code() == grpc.StatusCode.UNAUTHENTICATED
        assert rpc_error(lambda: whoami(identity, ch)).code() == grpc.StatusCode.UNAUTHENTICATED
        pong = identity.identity_pb2_grpc.IdentityStub(ch).Ping(identity.identity_pb2.PingRequest(),
                                                                timeout=ng.RPC_TIMEOUT_S)
        assert pong.node_id == AUDIENCE  # public
    finally:
        ch.close()


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_tampered_audience_and_unknown_node_are_unauthenticated(node, stubs, identity, registered, alg):
    node_id, keys = registered[alg]
    signer = nc.load_signer(keys.private)
    good = channel(node, signer=signer, node_id=node_id, audience=AUDIENCE)
    try:
        wait_accepted(lambda: roll(stubs, good), f"{node_id} to be accepted")
    finally:
        good.close()

    before = access_log_reasons(node)
    for kwargs, reason in (({"node_id": node_id, "audience": "some-other-node"}, "signature_invalid"),
                           ({"node_id": f"{node_id}-unknown", "audience": AUDIENCE},
                            "signature_unknown_node")):
        ch = channel(node, signer=signer, **kwargs)
        try:
            for call in (lambda: roll(stubs, ch), lambda: whoami(identity, ch)):
                err = rpc_error(call)
                assert err.code() == grpc.StatusCode.UNAUTHENTICATED, (kwargs, err)
        finally:
            ch.close()
        ng.wait_until(lambda: access_log_reasons(node)[reason] >= before[reason] + 2, ng.RPC_TIMEOUT_S,
                      f"two access-log lines with reason={reason}")


def test_signature_by_another_key_is_unauthenticated(node, stubs, registered):
    node_id, _ = registered["ed25519"]
    _, other = registered["ecdsa-p256-sha256"]  # a real key, but not the one registered for node_id
    ch = channel(node, signer=nc.load_signer(other.private), node_id=node_id, audience=AUDIENCE)
    try:
        assert rpc_error(lambda: roll(stubs, ch)).code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        ch.close()


def test_a_failing_signer_fails_the_call_and_does_not_hang(node, stubs):
    class Broken(signing.Signer):
        algorithm = "ed25519"

        def sign(self, data):
            raise RuntimeError("HSM unplugged")

    ch = channel(node, signer=Broken(), node_id="py-ed25519", audience=AUDIENCE)
    try:
        err = rpc_error(lambda: roll(stubs, ch))
        assert err.code() != grpc.StatusCode.OK
        assert "HSM unplugged" in (err.details() or "")
    finally:
        ch.close()


def test_channel_accepts_bytes_and_server_name(node, stubs, registered):
    node_id, keys = registered["ecdsa-p256-sha256"]
    ch = nc.create_client_channel(f"127.0.0.1:{node.port}", node.pki.ca.read_bytes(),
                                  node.client.cert.read_bytes(), node.client.key.read_bytes(),
                                  server_name="localhost", signer=keys.private.read_bytes(),
                                  node_id=node_id, audience=AUDIENCE,
                                  options=[("grpc.use_local_subchannel_pool", 1)])
    try:
        assert 1 <= wait_accepted(lambda: roll(stubs, ch), "ecdsa node accepted") <= 6
    finally:
        ch.close()


# --------------------------------------------------------------------------------------------------
# Tokens and app keys


def create_token(node, principal: str, roles: str = "reader") -> str:
    out = ng.run_nodegate("token", "create", "--config", node.config, "--principal", principal,
                          "--kind", "user", "--roles", roles, "--ttl", "24h").stdout
    tokens = [line.strip() for line in out.splitlines() if line.strip()]
    assert len(tokens) == 1, f"expected the token alone on stdout, got {out!r}"
    return tokens[0]


def create_appkey(node, principal: str, app_key: str) -> tuple[str, str]:
    out = ng.run_nodegate("appkey", "create", "--config", node.config, "--principal", principal,
                          "--app-key", app_key, "--roles", "reader").stdout
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert fields.get("app_key") == app_key and fields.get("app_secret"), out
    return fields["app_key"], fields["app_secret"]


@pytest.mark.parametrize("header", ["access-token", "authorization"])
def test_token_metadata_is_accepted(node, stubs, identity, header):
    principal = f"py-user-{header}"
    token = create_token(node, principal)
    ch = channel(node, token=token, token_header=header)
    try:
        me = wait_accepted(lambda: whoami(identity, ch), f"token via {header} accepted")
        assert (me.kind, me.id, list(me.roles)) == ("user", principal, ["reader"])
        assert list(me.authenticators) == ["token"], list(me.authenticators)
        # RollDie takes signatures only: a valid token is not a credential there.
        assert rpc_error(lambda: roll(stubs, ch)).code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        ch.close()
    wrong = channel(node, token=token + "x", token_header=header)
    try:
        assert rpc_error(lambda: whoami(identity, wrong)).code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        wrong.close()


@pytest.mark.parametrize("underscore", [True, False], ids=["app_key", "app-key"])
def test_app_key_metadata_is_accepted(node, identity, underscore):
    principal = f"py-app-{'u' if underscore else 'h'}"
    key, secret = create_appkey(node, principal, f"pykey-{'u' if underscore else 'h'}")
    ch = channel(node, app_key=key, app_secret=secret, app_key_underscore=underscore)
    try:
        me = wait_accepted(lambda: whoami(identity, ch), "app key accepted")
        assert (me.kind, me.id, list(me.roles)) == ("app", principal, ["reader"])
        assert list(me.authenticators) == ["app_key"], list(me.authenticators)
    finally:
        ch.close()
    wrong = channel(node, app_key=key, app_secret=secret[:-1], app_key_underscore=underscore)
    try:
        assert rpc_error(lambda: whoami(identity, wrong)).code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        wrong.close()


# --------------------------------------------------------------------------------------------------
# asyncio


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_aio_channel_signed_calls(node, stubs, identity, registered, alg):
    node_id, keys = registered[alg]
    signer = nc.load_signer(keys.private)
    # Registration pickup is checked with a sync channel so the async part stays a straight line.
    sync = channel(node, signer=signer, node_id=node_id, audience=AUDIENCE)
    try:
        wait_accepted(lambda: roll(stubs, sync), f"{node_id} accepted")
    finally:
        sync.close()

    async def main():
        async with nc.create_aio_client_channel(
                node.address, node.pki.ca, node.client.cert, node.client.key, signer=signer,
                node_id=node_id, audience=AUDIENCE,
                options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
            dice = stubs.dice_pb2_grpc.DiceServiceStub(ch)
            calls = [dice.RollDie(stubs.dice_pb2.RollDieRequest(), timeout=ng.RPC_TIMEOUT_S)
                     for _ in range(20)]
            values = [r.value for r in await asyncio.gather(*calls)]  # concurrent: 20 fresh nonces
            me = await identity.identity_pb2_grpc.IdentityStub(ch).WhoAmI(
                identity.identity_pb2.WhoAmIRequest(), timeout=ng.RPC_TIMEOUT_S)
        async with nc.create_aio_client_channel(
                node.address, node.pki.ca, node.client.cert, node.client.key, signer=signer,
                node_id=node_id, audience="not-this-node",
                options=[("grpc.use_local_subchannel_pool", 1)]) as bad:
            try:
                await stubs.dice_pb2_grpc.DiceServiceStub(bad).RollDie(stubs.dice_pb2.RollDieRequest(),
                                                                       timeout=ng.RPC_TIMEOUT_S)
                refused = None
            except grpc.aio.AioRpcError as err:
                refused = err.code()
        return values, me, refused

    values, me, refused = asyncio.run(main())
    assert len(values) == 20 and set(values) <= set(range(1, 7))
    assert (me.kind, me.id) == ("node", node_id) and list(me.authenticators) == ["signature"]
    assert refused == grpc.StatusCode.UNAUTHENTICATED


def test_aio_channel_token(node, identity):
    token = create_token(node, "py-aio-user")
    sync = channel(node, token=token, token_header="access-token")
    try:
        wait_accepted(lambda: whoami(identity, sync), "token accepted")
    finally:
        sync.close()

    async def main():
        async with nc.create_aio_client_channel(node.address, node.pki.ca, node.client.cert,
                                                node.client.key, token=token,
                                                token_header="access-token") as ch:
            return await identity.identity_pb2_grpc.IdentityStub(ch).WhoAmI(
                identity.identity_pb2.WhoAmIRequest(), timeout=ng.RPC_TIMEOUT_S)

    me = asyncio.run(main())
    assert (me.kind, me.id) == ("user", "py-aio-user") and list(me.authenticators) == ["token"]


# --------------------------------------------------------------------------------------------------
# Packaging


def test_package_installs_offline(tmp_path):
    """`pip install --no-build-isolation --no-deps` from a copy of clients/python (so no build/ or
    egg-info lands in the source tree), into a target directory, then import it from there alone."""
    src = tmp_path / "src"
    shutil.copytree(CLIENT_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    target = tmp_path / "site"
    proc = subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                           "--no-index", "--disable-pip-version-check", "--target", str(target), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "nodegate_client" / "signing.py").is_file()
    check = subprocess.run(["/usr/bin/python3", "-c",
                            "import nodegate_client, sys; print(nodegate_client.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(str(target))
