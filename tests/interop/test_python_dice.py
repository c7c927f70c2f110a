"""Interop: a plain Python grpcio client (Debian's python3-grpcio, code generated from
proto/api/dice.proto with `python3 -m grpc_tools.protoc`) calls the real node over mTLS, the way a seed
client does; and the dev setup made by `nodegate init` works as documented."""

from __future__ import annotations

import collections
import ipaddress
import re
import stat
import tomllib
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

import nodegate_testlib as ng


@pytest.fixture(scope="module", autouse=True)
def nodegate_binary():
    if not ng.NODEGATE_BIN.is_file():
        pytest.fail(f"nodegate binary not found at {ng.NODEGATE_BIN} (set NODEGATE_BIN)", pytrace=False)


@pytest.fixture(scope="module")
def dice(tmp_path_factory):
    """dice_pb2 / dice_pb2_grpc generated from the repository's proto into a temp dir."""
    return ng.generate_stubs(tmp_path_factory.mktemp("py-generated"))


@pytest.fixture
def start_node(tmp_path):
    daemons: list[ng.Daemon] = []

    def start(config: Path) -> ng.Daemon:
        daemon = ng.Daemon(config, tmp_path / f"daemon{len(daemons)}")
        daemons.append(daemon)
        daemon.start().wait_listening()
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()


@pytest.fixture
def node(tmp_path, start_node) -> ng.SecureNode:
    return ng.make_secure_node(tmp_path, ng.Pki(tmp_path / "pki").init(), start_node)


def seed_style_stub(dice, address: str, root: bytes, key: bytes | None = None, cert: bytes | None = None):
    """Exactly what a seed client does: ssl_channel_credentials(root, key, cert) + DiceServiceStub."""
    creds = grpc.ssl_channel_credentials(root, key, cert)
    channel = grpc.secure_channel(address, creds, options=[("grpc.use_local_subchannel_pool", 1)])
    return channel, dice.dice_pb2_grpc.DiceServiceStub(channel)


def test_generated_code_matches_the_seed_wire_contract(dice):
    service = dice.dice_pb2.DESCRIPTOR.services_by_name["DiceService"]
    method = service.methods_by_name["RollDie"]
    value = dice.dice_pb2.RollDieResponse.DESCRIPTOR.fields_by_name["value"]

    assert dice.dice_pb2.DESCRIPTOR.package == "api"
    assert method.input_type.full_name == "api.RollDieRequest"
    assert method.output_type.full_name == "api.RollDieResponse"
    assert (value.number, value.type) == (1, value.TYPE_INT32)
    assert len(dice.dice_pb2.RollDieRequest.DESCRIPTOR.fields) == 0


def test_python_client_gets_values_1_to_6_over_mtls(node: ng.SecureNode, dice):
    channel, stub = seed_style_stub(dice, node.address, node.pki.ca.read_bytes(),
                                    node.client.key.read_bytes(), node.client.cert.read_bytes())
    try:
        values = [stub.RollDie(dice.dice_pb2.RollDieRequest(), timeout=ng.RPC_TIMEOUT_S).value
                  for _ in range(300)]
    finally:
        channel.close()

    counts = collections.Counter(values)
    assert set(counts) == {1, 2, 3, 4, 5, 6}, counts


def test_python_client_without_certificate_is_refused(node: ng.SecureNode, dice):
    channel, stub = seed_style_stub(dice, node.address, node.pki.ca.read_bytes())
    try:
        with pytest.raises(grpc.RpcError) as refused:
            stub.RollDie(dice.dice_pb2.RollDieRequest(), timeout=ng.RPC_TIMEOUT_S)
    finally:
        channel.close()

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_python_client_refuses_a_server_it_does_not_trust(node: ng.SecureNode, dice, tmp_path):
    stranger_ca = ng.Pki(tmp_path / "stranger-ca").init()
    channel, stub = seed_style_stub(dice, node.address, stranger_ca.ca.read_bytes(),
                                    node.client.key.read_bytes(), node.client.cert.read_bytes())
    try:
        with pytest.raises(grpc.RpcError) as refused:
            stub.RollDie(dice.dice_pb2.RollDieRequest(), timeout=ng.RPC_TIMEOUT_S)
    finally:
        channel.close()

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


# ------------------------------------------------------------------------------------------------
# `nodegate init`: the dev PKI and configs that `make run` uses

DEV_FILES = ["pki/ca.pem", "pki/ca-key.pem", "pki/server.pem", "pki/server-key.pem", "pki/client.pem",
             "pki/client-key.pem", "node.toml", "client.toml"]


def test_init_writes_the_documented_dev_files(tmp_path):
    var = tmp_path / "var"

    ng.run_nodegate("init", "--dir", var)

    for name in DEV_FILES:
        assert (var / name).is_file(), f"missing {name}"
    for key in ("pki/ca-key.pem", "pki/server-key.pem", "pki/client-key.pem"):
        assert stat.S_IMODE((var / key).stat().st_mode) == 0o600, key
    server = ng.load_cert(var / "pki/server.pem")
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    client = ng.load_cert(var / "pki/client.pem")
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "dev-client"
    node_toml = tomllib.loads((var / "node.toml").read_text())
    assert node_toml["grpc"]["listen"] == "127.0.0.1:8443"
    tomllib.loads((var / "client.toml").read_text())  # parses


def test_init_never_overwrites_existing_files(tmp_path):
    var = tmp_path / "var"
    ng.run_nodegate("init", "--dir", var)
    before = {name: (var / name).read_bytes() for name in DEV_FILES}
    (var / "node.toml").write_text((var / "node.toml").read_text() + "\n# edited by the user\n")
    edited = (var / "node.toml").read_bytes()

    ng.run_nodegate("init", "--dir", var, check=False)

    after = {name: (var / name).read_bytes() for name in DEV_FILES}
    assert after == {**before, "node.toml": edited}


def _with_line_replaced(text: str, key: str, value: str, count: int = 1) -> str:
    """Replaces the first `count` `key = ...` lines (0: every one)."""
    pattern = re.compile(rf"^(\s*{re.escape(key)}\s*=\s*).*$", re.MULTILINE)
    assert pattern.search(text), f"no `{key} = ...` line in:\n{text}"
    return pattern.sub(lambda m: m.group(1) + f'"{value}"', text, count=count)


def test_node_made_by_init_answers_nodegate_call_with_the_dev_client_config(tmp_path, start_node, dice):
    var = tmp_path / "var"
    ng.run_nodegate("init", "--dir", var)
    # Same directory, so the relative paths in the dev config resolve the same way; only the ports
    # move: the gRPC listener's and the console's (8444 may be held by a developer's own node).
    node_toml = var / "node-test.toml"
    node_toml.write_text(_with_line_replaced((var / "node.toml").read_text(), "listen", "127.0.0.1:0",
                                             count=0))
    daemon = start_node(node_toml)
    client_toml = var / "client-test.toml"
    client_toml.write_text(_with_line_replaced((var / "client.toml").read_text(), "target",
                                               daemon.address))

    result = ng.call_dice("--config", client_toml, "--count", "5", "--show-peer")

    calls = ng.parse_show_peer(result.stdout)
    assert len(calls) == 5 and all(1 <= c.value <= 6 for c in calls)
    assert {c.serial for c in calls} == {ng.load_cert(var / "pki/server.pem").serial_number}
    # ... and a seed-style Python client with the same dev files gets in too.
    channel, stub = seed_style_stub(dice, daemon.address, (var / "pki/ca.pem").read_bytes(),
                                    (var / "pki/client-key.pem").read_bytes(),
                                    (var / "pki/client.pem").read_bytes())
    try:
        assert 1 <= stub.RollDie(dice.dice_pb2.RollDieRequest(), timeout=ng.RPC_TIMEOUT_S).value <= 6
    finally:
        channel.close()
