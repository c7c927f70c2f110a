"""`nodegate call /pkg.Service/Method`, `nodegate list`, `nodegate describe`, the exit codes and
`nodegate --version`, end to end (issue 15 §1, docs/cli.md).

One real `nodegate serve` for the module (client_auth = "request", so a caller may come with a token,
an app key or a signature alone), with callers registered by the real CLI before it starts: a client
certificate whose node entry has role `dice`, a signing key (node `signer`, role `dice`), tokens for
alice (role `dice`) and bob (role `other`), an app key (role `dice`). RollDie needs role `dice`.
`/nodegate.v1.Identity/WhoAmI`, called generically, tells which credential the node saw.

Message types come from the node's reflection service unless a test gives --proto.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

import nodegate_testlib as ng

ROLL_DIE = "/api.DiceService/RollDie"
WHOAMI = "/nodegate.v1.Identity/WhoAmI"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
PROTO_DIR = ng.SOURCE_DIR / "proto"
AUDIENCE = "e2e-node"  # [node] id written by ng.node_config

# 64 + the gRPC code, as grpcurl exits.
EXIT_DEADLINE_EXCEEDED = 64 + 4
EXIT_PERMISSION_DENIED = 64 + 7
EXIT_UNIMPLEMENTED = 64 + 12
EXIT_UNAUTHENTICATED = 64 + 16
EXIT_USAGE = 2

SERVED = ["api.DiceService", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
          "nodegate.v1.Identity", "nodegate.v1.KeyValue", "nodegate.v1.NodeRegistry",
          "nodegate.v1.PortService"]


@dataclass
class Node:
    daemon: ng.Daemon
    pki: ng.Pki
    mtls: ng.Issued          # CN=mtls-dice, registered with role dice
    signer_key: Path         # node "signer" (ed25519), role dice
    outsider_key: Path       # a key nobody registered
    alice: str               # token, role dice
    bob: str                 # token, role other
    app_key: str             # app key "billing", role dice
    app_secret: str

    @property
    def base(self) -> list[str]:
        """Where and how to connect, without any credential."""
        return ["--target", self.daemon.address, "--ca", str(self.pki.ca)]

    @property
    def with_cert(self) -> list[str]:
        return [*self.base, "--cert", str(self.mtls.cert), "--key", str(self.mtls.key)]

    def signed(self, key: Path) -> list[str]:
        return [*self.base, "--sign-key", str(key), "--node-id", "signer", "--audience", AUDIENCE]


def nodegate(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`nodegate ARGS` to completion, whatever its exit code."""
    return subprocess.run([str(ng.NODEGATE_BIN), *map(str, args)], capture_output=True, text=True,
                          input=stdin if stdin is not None else "", timeout=ng.CLI_TIMEOUT_S)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Node:
    root = tmp_path_factory.mktemp("cli_call")
    pki = ng.Pki(root / "pki").init()
    server = pki.issue("server", "server")
    mtls = pki.issue("mtls-dice", "client")
    config = ng.node_config(root, cert=server.cert, key=server.key, ca=pki.ca, client_auth="request")
    config.write_text(config.read_text() + '\n[[auth.rule]]\nmethod = "/api.DiceService/RollDie"\n'
                      'roles = ["dice"]\n')

    def admin(*args) -> str:
        return ng.run_nodegate(*args, "--config", config).stdout

    def keys(name: str) -> Path:
        ng.run_nodegate("keys", "gen", "--alg", "ed25519", "--out", root / name)
        return root / name

    signer, outsider = keys("signer"), keys("outsider")
    admin("node", "add", "--id", "signer", "--alg", "ed25519", "--public-key",
          signer / "signing-pub.pem", "--roles", "dice")
    admin("node", "add", "--id", "mtls-dice", "--alg", "ed25519", "--public-key",
          outsider / "signing-pub.pem", "--roles", "dice")  # mTLS roles come from this entry
    alice = admin("token", "create", "--principal", "alice", "--roles", "dice").strip()
    bob = admin("token", "create", "--principal", "bob", "--roles", "other").strip()
    app = dict(line.split("=", 1) for line in admin(
        "appkey", "create", "--principal", "billing", "--app-key", "billing-key", "--roles",
        "dice").split())

    daemon = ng.Daemon(config, root / "daemon").start()
    try:
        daemon.wait_listening()
        yield Node(daemon, pki, mtls, signer / "signing-key.pem", outsider / "signing-key.pem",
                   alice, bob, app["app_key"], app["app_secret"])
    finally:
        daemon.stop()


# ================================================================================================
# Every credential `call` has, on a method named in full


def test_generic_call_with_mtls_rolls_the_die(node):
    out = ok(nodegate("call", ROLL_DIE, *node.with_cert))

    [response] = json_lines(out)
    assert 1 <= response["value"] <= 6


@pytest.mark.parametrize("credential, principal, authenticator", [
    ("mtls", ("node", "mtls-dice"), "mtls"),
    ("token", ("user", "alice"), "token"),
    ("signature", ("node", "signer"), "signature"),
    ("app_key", ("app", "billing"), "app_key"),
])
def test_generic_call_carries_each_credential(node, credential, principal, authenticator):
    args = {
        "mtls": node.with_cert,
        "token": [*node.base, "--token", node.alice],
        "signature": node.signed(node.signer_key),
        "app_key": [*node.base, "--app-key", node.app_key, "--app-secret", node.app_secret],
    }[credential]

    [rolled] = json_lines(ok(nodegate("call", ROLL_DIE, *args)))
    [whoami] = json_lines(ok(nodegate("call", WHOAMI, *args)))

    assert 1 <= rolled["value"] <= 6
    assert (whoami["kind"], whoami["id"]) == principal
    assert whoami["authenticators"] == [authenticator]
    assert whoami["roles"] == ["dice"]
    assert whoami["nodeId"] == AUDIENCE


def test_a_signed_call_is_verified_per_call_and_each_gets_a_fresh_nonce(node):
    # Reflection and the call are two calls on one channel, each signed afresh; a reused nonce
    # would be refused as a replay, so two successes in a row show two nonces.
    for _ in range(2):
        [whoami] = json_lines(ok(nodegate("call", WHOAMI, *node.signed(node.signer_key))))
        assert whoami["authenticators"] == ["signature"]

    def signed_lines():
        lines = [e for e in node.daemon.access_log()
                 if e.get("principal") == "node:signer" and e["method"] in (WHOAMI, REFLECTION)]
        return lines if len(lines) >= 4 else None

    lines = ng.wait_until(signed_lines, ng.RPC_TIMEOUT_S, "four signed calls in the access log")
    assert all(e["status"] == "OK" for e in lines), lines


def test_a_call_signed_with_the_wrong_key_is_refused_with_exit_80(node):
    # The types come from --proto, so the refusal is the call's own, not reflection's.
    proc = nodegate("call", ROLL_DIE, *node.signed(node.outsider_key),
                    "--proto", "api/dice.proto", "--import-path", PROTO_DIR)

    assert proc.returncode == EXIT_UNAUTHENTICATED, proc.stderr
    assert "call failed: UNAUTHENTICATED: signature: does not verify" in proc.stderr
    assert proc.stdout == ""


def test_a_token_given_as_header_metadata_reaches_the_node(node):
    [whoami] = json_lines(ok(nodegate("call", WHOAMI, *node.base,
                                      "-H", f"Authorization: Bearer {node.alice}")))

    assert (whoami["kind"], whoami["id"], whoami["authenticators"]) == ("user", "alice", ["token"])


def test_header_metadata_goes_on_the_reflection_call_too(node):
    # No --token: the bearer token in -H is all that lets reflection (default rule) through.
    out = ok(nodegate("list", *node.base, "-H", f"authorization: Bearer {node.alice}"))

    assert out.splitlines() == SERVED


# ================================================================================================
# Exit codes: 64 + the gRPC code for an RPC error


def test_permission_denied_exits_71(node):
    proc = nodegate("call", ROLL_DIE, *node.base, "--token", node.bob)

    assert proc.returncode == EXIT_PERMISSION_DENIED, proc.stderr
    assert "call failed: PERMISSION_DENIED" in proc.stderr


def test_no_credential_exits_80_from_the_call_itself(node):
    proc = nodegate("call", ROLL_DIE, *node.base, "--proto", "api/dice.proto", "-I", PROTO_DIR)

    assert proc.returncode == EXIT_UNAUTHENTICATED, proc.stderr
    assert "call failed: UNAUTHENTICATED: no credential" in proc.stderr


def test_no_credential_exits_80_from_reflection(node):
    proc = nodegate("call", ROLL_DIE, *node.base)

    assert proc.returncode == EXIT_UNAUTHENTICATED, proc.stderr
    assert "UNAUTHENTICATED: reflection:" in proc.stderr


def test_a_method_the_node_does_not_serve_exits_76(node):
    proc = nodegate("call", "/grpc.testing.TestService/EmptyCall", *node.base, "--token", node.alice,
                    "--proto", "grpc/testing/test.proto", "-I", PROTO_DIR)

    assert proc.returncode == EXIT_UNIMPLEMENTED, proc.stderr
    assert "call failed: UNIMPLEMENTED" in proc.stderr


def test_a_method_reflection_does_not_know_exits_1_naming_what_the_service_has(node):
    proc = nodegate("call", "/api.DiceService/RollDice", *node.with_cert)

    assert proc.returncode == 1, proc.stderr
    assert "service api.DiceService has no method RollDice (it has: RollDie)" in proc.stderr


# ================================================================================================
# Request input and streaming


def test_data_from_a_file_and_from_stdin(node, tmp_path):
    request = tmp_path / "set.json"
    request.write_text('{"key": "greeting", "value": "aGVsbG8=", "contentType": "text/plain"}')

    ok(nodegate("call", "/nodegate.v1.KeyValue/Set", *node.with_cert, "-d", f"@{request}"))
    out = ok(nodegate("call", "/nodegate.v1.KeyValue/Get", *node.with_cert, "-d", "-",
                      stdin='{"key": "greeting"}'))

    [got] = json_lines(out)
    assert (got["value"], got["contentType"]) == ("aGVsbG8=", "text/plain")  # bytes as base64
    assert int(got["updatedUnixMs"]) > 0  # int64 as a JSON string (proto3 mapping)


def test_a_bidi_stream_takes_several_json_values_and_prints_one_line_each(node):
    # Reflection is the node's bidirectional method: two requests in, two answers out.
    out = ok(nodegate("call", REFLECTION, *node.with_cert,
                      "-d", '{"listServices": ""}\n{"fileContainingSymbol": "api.DiceService"}'))

    listed, file = json_lines(out)
    assert sorted(s["name"] for s in listed["listServicesResponse"]["service"]) == SERVED
    assert file["originalRequest"] == {"fileContainingSymbol": "api.DiceService"}
    assert file["fileDescriptorResponse"]["fileDescriptorProto"]


def test_a_server_stream_prints_each_message_as_it_comes_and_the_deadline_exits_68(node):
    # Health/Watch sends the status, then waits for a change: the deadline ends it.
    proc = nodegate("call", "/grpc.health.v1.Health/Watch", *node.with_cert, "--timeout", "1s")

    assert proc.returncode == EXIT_DEADLINE_EXCEEDED, proc.stderr
    assert json_lines(proc.stdout) == [{"status": "SERVING"}]


def test_several_values_for_a_unary_method_are_a_usage_error(node):
    proc = nodegate("call", ROLL_DIE, *node.with_cert, "-d", "{}{}")

    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "takes exactly one request message, got 2" in proc.stderr


def test_json_that_does_not_fit_the_message_is_a_usage_error_naming_the_field(node):
    proc = nodegate("call", ROLL_DIE, *node.with_cert, "-d", '{"sides": 20}')

    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "request 1 (api.RollDieRequest)" in proc.stderr and "sides" in proc.stderr


def test_emit_defaults_and_verbose(node):
    proc = nodegate("call", "/nodegate.v1.KeyValue/Exists", *node.with_cert, "-d", '{"key": "nope"}',
                    "--emit-defaults", "-v")

    assert json_lines(ok(proc)) == [{"exists": False}]
    assert "response headers:" in proc.stderr and "response trailers:" in proc.stderr


# ================================================================================================
# list and describe


def test_list_names_every_served_service(node):
    assert ok(nodegate("list", *node.with_cert)).splitlines() == SERVED


def test_list_service_names_its_methods(node):
    out = ok(nodegate("list", "nodegate.v1.KeyValue", *node.with_cert))

    assert out.splitlines() == [f"nodegate.v1.KeyValue.{m}"
                                for m in ("Get", "Set", "Delete", "Exists", "Keys")]


def test_describe_a_service_a_method_and_a_message(node):
    service = ok(nodegate("describe", "api.DiceService", *node.with_cert))
    method = ok(nodegate("describe", "api.DiceService.RollDie", *node.with_cert))
    message = ok(nodegate("describe", ".api.RollDieResponse", *node.with_cert))

    assert service == ("api.DiceService is a service:\n"
                       "service DiceService {\n"
                       "  rpc RollDie(.api.RollDieRequest) returns (.api.RollDieResponse);\n"
                       "}\n")
    assert method.startswith("api.DiceService.RollDie is a method:\nrpc RollDie(")
    assert message == ("api.RollDieResponse is a message:\n"
                       "message RollDieResponse {\n"
                       "  int32 value = 1;\n"
                       "}\n")


def test_describe_without_a_symbol_describes_every_service(node):
    out = ok(nodegate("describe", *node.with_cert))

    assert re.findall(r"^(\S+) is a service:$", out, re.M) == SERVED


def test_describe_an_unknown_symbol_exits_1(node):
    proc = nodegate("describe", "api.Nothing", *node.with_cert)

    assert proc.returncode == 1
    assert "symbol api.Nothing is not known to the node's reflection service" in proc.stderr


def test_list_with_proto_files_needs_no_node(node):
    # No credential at all: nothing is asked of the node.
    out = ok(nodegate("list", *node.base, "--proto", "grpc/testing/test.proto", "-I", PROTO_DIR))

    assert out.splitlines() == ["grpc.testing.TestService", "grpc.testing.UnimplementedService"]


def test_list_without_credentials_exits_80(node):
    proc = nodegate("list", *node.base)

    assert proc.returncode == EXIT_UNAUTHENTICATED, proc.stderr


# ================================================================================================
# Usage errors exit 2, with "did you mean"


@pytest.mark.parametrize("args, says", [
    (["call", "dise"], "nodegate call: unknown command 'dise' — did you mean 'dice'?"),
    (["srve"], "nodegate: unknown command 'srve' — did you mean 'serve'?"),
    (["node", "lsit"], "nodegate node: unknown command 'lsit' — did you mean 'list'?"),
    (["pki"], "nodegate pki: give a command: init, issue"),
    (["call", "dice", "--bogus"], "The following argument was not expected: --bogus"),
    (["call", "dice", "--count", "many"], "--count"),
    (["call", ROLL_DIE, "--target", "127.0.0.1:1", "--ca", "x.pem", "-H", "no colon"],
     "-H (not shown: it has no ':'): expected 'key: value'"),
    (["call", ROLL_DIE, "--target", "127.0.0.1:1", "--ca", "x.pem", "-H", "app-secret: s3cret\x01"],
     "-H 'app-secret: …' (value not shown)"),
    (["call", ROLL_DIE, "--target", "127.0.0.1:1", "--ca", "x.pem", "-d", '{"unclosed": 1'],
     "not closed"),
    (["call", ROLL_DIE], "no target"),
    (["call"], "give a method"),
    (["token", "create"], "--principal is required"),
])
def test_usage_errors_exit_2(args, says):
    proc = nodegate(*args)

    assert proc.returncode == EXIT_USAGE, f"{args}: exit {proc.returncode}\n{proc.stderr}"
    assert says in proc.stderr, proc.stderr
    assert "s3cret" not in proc.stderr, proc.stderr


def test_bare_nodegate_prints_the_help_and_exits_2():
    proc = nodegate()

    assert proc.returncode == EXIT_USAGE
    assert "Subcommands:" in proc.stdout and "call" in proc.stdout


def test_help_exits_0():
    proc = nodegate("call", "--help")

    assert proc.returncode == 0
    assert "Usage: " in proc.stdout and "--proto" in proc.stdout


# ================================================================================================
# --version


def test_version_names_the_commit_and_the_libraries_in_use():
    out = ok(nodegate("--version"))

    fields = dict(re.split(r"\s+", line, maxsplit=1) for line in out.splitlines())
    assert re.fullmatch(r"\d+\.\d+\.\d+", fields["nodegate"]), out
    # The same shared libraries this Python loads (Debian's), so the versions agree.
    assert fields["gRPC"] == grpc.__version__
    assert fields["SQLite"] == sqlite3.sqlite_version
    assert ssl.OPENSSL_VERSION.startswith(f"OpenSSL {fields['OpenSSL']}")
    if (ng.SOURCE_DIR / ".git").exists() and shutil.which("git"):
        head = subprocess.run(["git", "-C", str(ng.SOURCE_DIR), "rev-parse", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        # The binary may be older than HEAD (a build, then a commit): it is a commit, in full.
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", fields["commit"]), out
        assert head, "git rev-parse HEAD"
    else:
        assert fields["commit"] == "unknown"
    # The malloc in use: the build's choice (src/cli/CMakeLists.txt), the sanitizer's in its builds.
    cache = (ng.BUILD_DIR / "CMakeCache.txt").read_text(errors="replace")
    if ng.sanitized_build():
        assert fields["malloc"].endswith("Sanitizer's"), out
    elif "NODEGATE_ALLOCATOR:STRING=system" in cache:
        assert re.fullmatch(r"glibc \d+\.\d+", fields["malloc"]), out
    else:
        assert re.fullmatch(r"jemalloc \d+\.\d+\.\d+.*", fields["malloc"]), out


def _commit_script(source: Path, out: Path, *extra: str) -> str:
    subprocess.run(["cmake", f"-DSOURCE_DIR={source}", f"-DOUTPUT={out}", *extra, "-P",
                    str(ng.SOURCE_DIR / "cmake" / "git_commit.cmake")],
                   check=True, capture_output=True, timeout=ng.CLI_TIMEOUT_S)
    return re.search(r'NODEGATE_GIT_COMMIT "([^"]*)"', out.read_text()).group(1)


def test_a_source_tree_without_git_builds_with_commit_unknown(tmp_path):
    tarball_tree = tmp_path / "nodegate-0.1.0"
    tarball_tree.mkdir()

    assert _commit_script(tarball_tree, tmp_path / "h.h") == "unknown"
    # A packager who knows the commit says so.
    assert _commit_script(tarball_tree, tmp_path / "h2.h", "-DCOMMIT=abc123") == "abc123"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_tree_unpacked_inside_another_checkout_does_not_take_its_commit(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=e@x", "-c", "user.name=e",
                    "commit", "-q", "--allow-empty", "-m", "outer"], check=True)
    inner = tmp_path / "vendor" / "nodegate"
    inner.mkdir(parents=True)

    assert _commit_script(inner, tmp_path / "h.h") == "unknown"
    outer = _commit_script(tmp_path, tmp_path / "h2.h")
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", outer)
