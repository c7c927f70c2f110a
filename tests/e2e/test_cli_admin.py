"""The admin CLI against a running node, as a new user meets it: the README's steps 2-3 pasted as a
block (no sleeps), store changes in force when the command returns (or a clear "not confirmed"),
`node update --roles`, and `--output json` on the listing commands, parsed as JSON.

The node is the one `nodegate init` + `nodegate serve` make (what `make run` does), on free ports.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nodegate_testlib as ng  # noqa: E402


class DevNode:
    """`nodegate init --dir VAR --listen 127.0.0.1:P` and `nodegate serve --config VAR/node.toml`."""

    def __init__(self, tmp_path: Path, start_node):
        self.var = tmp_path / "var"
        base = ng.free_port_block(2)
        ng.run_nodegate("init", "--dir", self.var, "--listen", f"127.0.0.1:{base}")
        self.node_toml = self.var / "node.toml"
        self.client_toml = self.var / "client.toml"
        self.http_port = base + 1
        self.daemon = start_node(self.node_toml)
        ng.wait_until(lambda: f"listening http=127.0.0.1:{self.http_port}" in self.daemon.stderr(),
                      ng.START_TIMEOUT_S, "the console listener")

    def cli(self, *args, check: bool = True):
        return ng.run_nodegate(*args, check=check)

    def whoami(self, *extra, check: bool = True):
        return self.cli("call", "whoami", "--config", self.client_toml, *extra, check=check)


@pytest.fixture
def dev(tmp_path, start_node) -> DevNode:
    return DevNode(tmp_path, start_node)


# ------------------------------------------------------------------------------------------------
# README steps 2-3, back to back


def test_readme_steps_2_and_3_pasted_as_a_block_work_every_time(dev):
    """Each round registers a new key (the old one stays in the node's snapshot until it reloads)
    and a new token, and uses them at once: before, this raced the node's 500 ms poll."""
    for i in range(5):
        keys = dev.var / f"keys{i}"
        dev.cli("keys", "gen", "--alg", "ed25519", "--out", keys)
        if i > 0:
            dev.cli("node", "remove", "--config", dev.node_toml, "--id", "dev-client")
        added = dev.cli("node", "add", "--config", dev.node_toml, "--id", "dev-client", "--alg",
                        "ed25519", "--public-key", keys / "signing-pub.pem", "--roles", "ops")
        assert added.stdout.strip() == "registered node dev-client (ed25519)"
        assert added.stderr == "", "a confirmed change says nothing more"
        signed = dev.whoami("--sign-key", keys / "signing-key.pem", "--audience", "dev-node")
        assert signed.stdout.strip() == "node:dev-client roles=ops via=mtls,signature node=dev-node"

        token = dev.cli("token", "create", "--config", dev.node_toml, "--principal", f"alice{i}",
                        "--roles", "dice", "--ttl", "24h").stdout.strip()
        with_token = dev.whoami("--token", token)
        assert with_token.stdout.strip() == f"user:alice{i} roles=dice via=mtls,token node=dev-node"


def test_revocation_and_disable_are_in_force_when_the_command_returns(dev):
    keys = dev.var / "keys"
    dev.cli("keys", "gen", "--alg", "ed25519", "--out", keys)
    dev.cli("node", "add", "--config", dev.node_toml, "--id", "dev-client", "--alg", "ed25519",
            "--public-key", keys / "signing-pub.pem")
    sign = ("--sign-key", keys / "signing-key.pem", "--audience", "dev-node")
    for i in range(3):
        token = dev.cli("token", "create", "--config", dev.node_toml, "--principal", "carol").stdout.strip()
        assert dev.whoami("--token", token).returncode == 0
        dev.cli("token", "revoke", "--config", dev.node_toml, "--token", token)
        refused = dev.whoami("--token", token, check=False)
        assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stderr, refused.stderr

        dev.cli("node", "disable", "--config", dev.node_toml, "--id", "dev-client")
        disabled = dev.whoami(*sign, check=False)
        assert disabled.returncode != 0 and "disabled" in disabled.stderr, disabled.stderr
        dev.cli("node", "enable", "--config", dev.node_toml, "--id", "dev-client")
        assert dev.whoami(*sign).returncode == 0

    app = dev.cli("appkey", "create", "--config", dev.node_toml, "--principal", "billing").stdout
    fields = dict(line.split("=", 1) for line in app.split())
    ok = dev.whoami("--app-key", fields["app_key"], "--app-secret", fields["app_secret"])
    assert ok.stdout.startswith("app:billing ")
    dev.cli("appkey", "disable", "--config", dev.node_toml, "--app-key", fields["app_key"])
    refused = dev.whoami("--app-key", fields["app_key"], "--app-secret", fields["app_secret"],
                         check=False)
    assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stderr, refused.stderr


def test_node_update_changes_roles_in_place(dev):
    keys = dev.var / "keys"
    dev.cli("keys", "gen", "--alg", "ed25519", "--out", keys)
    dev.cli("node", "add", "--config", dev.node_toml, "--id", "dev-client", "--alg", "ed25519",
            "--public-key", keys / "signing-pub.pem", "--roles", "ops")
    before = json.loads(dev.cli("node", "list", "--config", dev.node_toml, "-o", "json").stdout)

    out = dev.cli("node", "update", "--config", dev.node_toml, "--id", "dev-client", "--roles",
                  "ops,dice")

    assert out.stdout.strip() == "updated dev-client: roles ops,dice"
    assert dev.whoami().stdout.strip() == "node:dev-client roles=ops,dice via=mtls node=dev-node"
    after = json.loads(dev.cli("node", "list", "--config", dev.node_toml, "-o", "json").stdout)
    [b], [a] = before["nodes"], after["nodes"]
    assert a["roles"] == ["ops", "dice"]
    assert a["created_at"] == b["created_at"], "updated in place, not removed and re-added"
    # The key is untouched: signing still works.
    signed = dev.whoami("--sign-key", keys / "signing-key.pem", "--audience", "dev-node")
    assert "via=mtls,signature" in signed.stdout

    assert dev.cli("node", "update", "--config", dev.node_toml, "--id", "dev-client", "--roles",
                   "").stdout.strip() == "updated dev-client: roles -"
    assert dev.whoami().stdout.strip() == "node:dev-client roles= via=mtls node=dev-node"
    unknown = dev.cli("node", "update", "--config", dev.node_toml, "--id", "ghost", "--roles", "x",
                      check=False)
    assert unknown.returncode == 1 and "ghost" in unknown.stderr


def test_a_node_that_does_not_load_the_change_in_time_is_reported(dev):
    """A frozen node (SIGSTOP) accepts TCP but never answers: the command says the change is stored
    but not confirmed, and exits 1, within its --wait."""
    dev.daemon.signal(signal.SIGSTOP)
    try:
        start = time.monotonic()
        r = dev.cli("token", "create", "--config", dev.node_toml, "--principal", "dave", "--wait",
                    "1s", check=False)
        took = time.monotonic() - start
    finally:
        dev.daemon.signal(signal.SIGCONT)
    assert r.returncode == 1, r
    assert r.stdout.strip(), "the token is still printed: it is stored"
    assert "stored but not confirmed in force" in r.stderr
    assert "has not loaded the change after 1s" in r.stderr, r.stderr
    assert took < 10, took
    # Once the node runs again the token works.
    ng.wait_until(lambda: dev.whoami("--token", r.stdout.strip(), check=False).returncode == 0, 10,
                  "the token to work after SIGCONT")


def test_without_a_running_node_the_command_says_so_and_does_not_wait(tmp_path):
    var = tmp_path / "var"
    base = ng.free_port_block(2)
    ng.run_nodegate("init", "--dir", var, "--listen", f"127.0.0.1:{base}")
    start = time.monotonic()
    r = ng.run_nodegate("token", "create", "--config", var / "node.toml", "--principal", "erin")
    assert time.monotonic() - start < 5
    assert f"no node answers on https://127.0.0.1:{base + 1}/readyz" in r.stderr, r.stderr
    quiet = ng.run_nodegate("token", "create", "--config", var / "node.toml", "--principal", "erin",
                            "--no-wait")
    assert "no node answers" not in quiet.stderr
    bad = ng.run_nodegate("token", "create", "--config", var / "node.toml", "--principal", "erin",
                          "--wait", "soon", check=False)
    assert bad.returncode == 2 and "--wait" in bad.stderr


def test_readyz_and_metrics_carry_the_credential_generation(dev):
    import ssl  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    ctx = ssl.create_default_context(cafile=str(dev.var / "pki" / "ca.pem"))

    def generation() -> float:
        with urllib.request.urlopen(f"https://127.0.0.1:{dev.http_port}/readyz", context=ctx,
                                    timeout=5) as r:
            return json.loads(r.read())["credential_generation"]

    g0 = generation()
    dev.cli("token", "create", "--config", dev.node_toml, "--principal", "frank")
    assert generation() > g0


# ------------------------------------------------------------------------------------------------
# --output json


def test_list_commands_print_json_with_stable_fields(dev):
    keys = dev.var / "keys"
    dev.cli("keys", "gen", "--alg", "ed25519", "--out", keys)
    dev.cli("node", "add", "--config", dev.node_toml, "--id", "dev-client", "--alg", "ed25519",
            "--public-key", keys / "signing-pub.pem", "--roles", "ops")
    dev.cli("node", "disable", "--config", dev.node_toml, "--id", "dev-client")
    dev.cli("token", "create", "--config", dev.node_toml, "--principal", "alice", "--roles",
            "dice,ops", "--ttl", "24h")
    dev.cli("token", "create", "--config", dev.node_toml, "--principal", "svc", "--kind", "app")
    dev.cli("appkey", "create", "--config", dev.node_toml, "--principal", "billing", "--app-key",
            "ngk_billing", "--roles", "kv")

    nodes = json.loads(dev.cli("node", "list", "--config", dev.node_toml, "--output", "json").stdout)
    assert nodes == {"nodes": [{
        "id": "dev-client", "enabled": False, "algorithm": "ed25519", "roles": ["ops"],
        "cert_serial": None, "previous_key_valid_until": None,
        "created_at": nodes["nodes"][0]["created_at"], "updated_at": nodes["nodes"][0]["updated_at"]}]}
    assert nodes["nodes"][0]["created_at"].endswith("Z")

    tokens = json.loads(dev.cli("token", "list", "--config", dev.node_toml, "-o", "json").stdout)
    by_principal = {t["principal"]: t for t in tokens["tokens"]}
    assert set(by_principal) == {"alice", "svc"}
    assert by_principal["alice"]["kind"] == "user" and by_principal["alice"]["roles"] == ["dice", "ops"]
    assert by_principal["alice"]["expires_at"].endswith("Z")
    assert by_principal["svc"]["kind"] == "app" and by_principal["svc"]["expires_at"] is None
    assert all(len(t["hash_prefix"]) == 16 for t in tokens["tokens"])
    assert set(by_principal["alice"]) == {"hash_prefix", "kind", "principal", "roles", "expires_at"}

    apps = json.loads(dev.cli("appkey", "list", "--config", dev.node_toml, "-o", "json").stdout)
    assert apps == {"app_keys": [{"app_key": "ngk_billing", "principal": "billing",
                                  "roles": ["kv"], "enabled": True}]}

    policy = json.loads(dev.cli("policy", "--config", dev.node_toml, "-o", "json").stdout)
    rules = {r["method"]: r for r in policy["rules"]}
    assert rules["/nodegate.v1.Identity/Ping"] == {
        "method": "/nodegate.v1.Identity/Ping", "access": "public", "authenticators": [],
        "roles": [], "source": "proto"}
    assert rules["/api.DiceService/RollDie"]["access"] == "auth"
    assert rules["/api.DiceService/RollDie"]["authenticators"] == ["mtls", "signature", "token",
                                                                   "app_key"]
    assert policy["default"]["access"] == "auth"

    text = dev.cli("node", "list", "--config", dev.node_toml).stdout
    assert text.splitlines()[0] == "ID\tENABLED\tALGORITHM\tROLES", "text stays the default"
    bad = dev.cli("node", "list", "--config", dev.node_toml, "--output", "yaml", check=False)
    assert bad.returncode != 0
