"""`nodegate serve` over mTLS, end to end: the real daemon on an ephemeral port, certificates made by
`nodegate pki`, called by `nodegate call dice` and by Python grpcio.

Each test states one behaviour. Time bounds come from the configured reload_interval (1 s):
a change on disk must be live within interval + the 0.2 s source poll + a margin for a busy
machine.
"""

from __future__ import annotations

import collections
import signal
import socket
import threading
import time

import grpc
import pytest

import nodegate_testlib as ng
from nodegate_testlib import SecureNode, make_secure_node

RELOAD_INTERVAL_S = 1.0
RELOAD_BOUND_S = RELOAD_INTERVAL_S + 0.2 + 1.0
ROLL_DIE = "/api.DiceService/RollDie"


# ------------------------------------------------------------------------------------------------
# mTLS calls that succeed


def test_call_dice_over_mtls_returns_values_1_to_6_and_every_face_appears(node: SecureNode):
    result = ng.call_dice("--config", node.client_toml, "--count", "200")

    values = [int(line) for line in result.stdout.split()]
    assert len(values) == 200
    assert set(values) <= {1, 2, 3, 4, 5, 6}
    assert set(values) == {1, 2, 3, 4, 5, 6}, collections.Counter(values)


def test_call_dice_with_explicit_flags_shows_the_served_certificate(node: SecureNode):
    result = ng.call_dice(*node.call_args(), "--show-peer", "--count", "3")

    calls = ng.parse_show_peer(result.stdout)
    assert len(calls) == 3
    assert all(1 <= c.value <= 6 for c in calls)
    assert {c.serial for c in calls} == {node.server.serial}


def test_roll_die_is_uniform_for_a_python_client(node: SecureNode, stubs):
    channel = grpc.secure_channel(node.address, node.client_creds())
    try:
        stub = stubs.dice_pb2_grpc.DiceServiceStub(channel)
        values = [stub.RollDie(stubs.dice_pb2.RollDieRequest(), timeout=ng.RPC_TIMEOUT_S).value
                  for _ in range(1200)]
    finally:
        channel.close()

    counts = collections.Counter(values)
    assert set(counts) == {1, 2, 3, 4, 5, 6}
    expected = len(values) / 6
    chi2 = sum((counts[face] - expected) ** 2 / expected for face in range(1, 7))
    # 5 degrees of freedom: P(chi2 > 40) is about 1e-7 for a fair die, so this never flakes,
    # yet it catches a die that favours or never shows a face.
    assert chi2 < 40, counts


def test_call_dice_verifies_the_server_name(node: SecureNode):
    good = ng.call_dice(*node.call_args(), "--server-name", "localhost")
    assert int(good.stdout.strip()) in range(1, 7)

    bad = ng.call_dice(*node.call_args(), "--server-name", "wronghost", check=False)
    assert bad.returncode != 0
    assert ng.CALL_FAILED_RE.search(bad.stderr), bad.stderr


# ------------------------------------------------------------------------------------------------
# Clients that must be refused (client_auth = "require")


def test_refuses_client_without_certificate(node: SecureNode, stubs):
    creds = ng.channel_credentials(node.pki.ca)  # root only

    assert ng.roll_die_error(stubs, node.address, creds) == grpc.StatusCode.UNAVAILABLE
    # ... while the same connection path with a certificate works, so the refusal is about the cert.
    assert ng.roll_die(stubs, node.address, node.client_creds()) in range(1, 7)


def test_refuses_client_certificate_from_another_ca(node: SecureNode, other_ca: ng.Pki, stubs):
    stranger = other_ca.issue("stranger", "client")
    # The client trusts the node's CA; only its own certificate is foreign.
    creds = ng.channel_credentials(node.pki.ca, stranger.cert, stranger.key)

    assert ng.roll_die_error(stubs, node.address, creds) == grpc.StatusCode.UNAVAILABLE


def test_call_dice_reports_refusal_as_call_failed_with_a_code(node: SecureNode, other_ca: ng.Pki):
    stranger = other_ca.issue("stranger", "client")

    result = ng.call_dice(*node.call_args(stranger), check=False)

    assert result.returncode != 0
    assert result.stdout.strip() == ""
    m = ng.CALL_FAILED_RE.search(result.stderr)
    assert m, result.stderr
    assert m.group(1) == "UNAVAILABLE"


@pytest.mark.parametrize("validity", [
    pytest.param(("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"), id="expired"),
    pytest.param(("2090-01-01T00:00:00Z", "2091-01-01T00:00:00Z"), id="not_yet_valid"),
])
def test_refuses_client_certificate_outside_its_validity(node: SecureNode, stubs, validity):
    not_before, not_after = validity
    stale = node.pki.issue("stale", "client", "--not-before", not_before, "--not-after", not_after)

    creds = ng.channel_credentials(node.pki.ca, stale.cert, stale.key)

    assert ng.roll_die_error(stubs, node.address, creds) == grpc.StatusCode.UNAVAILABLE


def test_refuses_revoked_client_and_accepts_a_valid_one(tmp_path, pki, start_node, stubs):
    revoked = pki.issue("revoked", "client")
    valid = pki.issue("valid", "client")
    pki.revoke(revoked)
    node = make_secure_node(tmp_path, pki, start_node, with_crl=True)

    assert ng.roll_die_error(stubs, node.address, node.client_creds(revoked)) == \
        grpc.StatusCode.UNAVAILABLE
    assert ng.roll_die(stubs, node.address, node.client_creds(valid)) in range(1, 7)


def test_crl_updated_while_running_takes_effect_without_restart(node_with_crl: SecureNode, stubs):
    node = node_with_crl
    soon_revoked = node.pki.issue("soon-revoked", "client")
    bystander = node.pki.issue("bystander", "client")
    assert ng.roll_die(stubs, node.address, node.client_creds(soon_revoked)) in range(1, 7)
    pid_before = node.daemon.proc.pid

    node.pki.revoke(soon_revoked)  # rewrites the configured crl.pem in place
    t0 = time.monotonic()
    ng.wait_until(
        lambda: ng.roll_die_error(stubs, node.address, node.client_creds(soon_revoked))
        == grpc.StatusCode.UNAVAILABLE,
        RELOAD_BOUND_S, "the revoked client to be refused")
    delay = time.monotonic() - t0
    ng.record_metric("crl_reload_delay", delay, "s", f"reload_interval={RELOAD_INTERVAL_S:g}s")

    assert node.daemon.running() and node.daemon.proc.pid == pid_before, "no restart allowed"
    assert ng.roll_die(stubs, node.address, node.client_creds(bystander)) in range(1, 7)
    assert ng.roll_die(stubs, node.address, node.client_creds()) in range(1, 7)


# ------------------------------------------------------------------------------------------------
# Hot reload of the server's own certificate


class CallLoop:
    """Keeps calling the node until stopped, a new connection per call, with two real clients:
    `nodegate call dice --show-peer` (reports the serial it was served) and Python grpcio."""

    def __init__(self, node: SecureNode, stubs):
        self._node, self._stubs = node, stubs
        self._stop = threading.Event()
        self.cli_serials: list[int] = []
        self.python_calls = 0
        self.failures: list[str] = []
        self._threads = [threading.Thread(target=self._cli_loop, daemon=True),
                         threading.Thread(target=self._python_loop, daemon=True)]

    def __enter__(self) -> "CallLoop":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=ng.CLI_TIMEOUT_S + 5)

    def _cli_loop(self) -> None:
        try:
            self._cli_calls()
        except Exception as exc:  # noqa: BLE001 - a dead loop must fail the test, not vanish
            self.failures.append(f"cli loop died: {exc!r}")

    def _cli_calls(self) -> None:
        while not self._stop.is_set():
            r = ng.call_dice("--config", self._node.client_toml, "--count", "3", "--show-peer",
                             check=False)
            if r.returncode != 0:
                self.failures.append(f"nodegate call exit {r.returncode}: {r.stderr.strip()}")
                continue
            try:
                self.cli_serials.extend(c.serial for c in ng.parse_show_peer(r.stdout))
            except AssertionError as exc:
                self.failures.append(str(exc))

    def _python_loop(self) -> None:
        try:
            self._python_calls()
        except Exception as exc:  # noqa: BLE001
            self.failures.append(f"python loop died: {exc!r}")

    def _python_calls(self) -> None:
        creds = self._node.client_creds()
        while not self._stop.is_set():
            try:
                value = ng.roll_die(self._stubs, self._node.address, creds)
                if not 1 <= value <= 6:
                    self.failures.append(f"python RollDie returned {value}")
                self.python_calls += 1
            except grpc.RpcError as err:
                self.failures.append(f"python RollDie: {err.code().name}: {err.details()}")


def rotate_and_measure(node: SecureNode, new: ng.Issued) -> float:
    """Installs `new` into the configured files; returns seconds until a new connection is served it."""
    ng.install_pair(new, node.server.cert, node.server.key)
    t0 = time.monotonic()
    ng.wait_until(lambda: node.served_serial() == new.serial, RELOAD_BOUND_S,
                  f"serial {ng.serial_hex(new.serial)} to be served", interval=0.02)
    return time.monotonic() - t0


def assert_serials_only_move_forward(observed: list[int], order: list[int]) -> None:
    rank = {serial: i for i, serial in enumerate(order)}
    unknown = {ng.serial_hex(s) for s in observed if s not in rank}
    assert not unknown, f"served serials that were never installed: {unknown}"
    ranks = [rank[s] for s in observed]
    assert ranks == sorted(ranks), "a new connection was served an older certificate after a newer one"


def test_rotated_server_certificate_is_served_within_the_bound_and_no_call_fails(
        tmp_path, node: SecureNode, stubs):
    old = node.server.serial
    second = node.pki.issue("server", "server", out_dir=tmp_path / "rotation1")
    third = node.pki.issue("server", "server", out_dir=tmp_path / "rotation2")
    assert len({old, second.serial, third.serial}) == 3

    delays = []
    with CallLoop(node, stubs) as loop:
        ng.wait_until(lambda: len(loop.cli_serials) >= 3 and loop.python_calls >= 3, 30,
                      "the call loops to get going")
        for new in (second, third):
            delays.append(rotate_and_measure(node, new))
            seen_before = len(loop.cli_serials)
            ng.wait_until(lambda: new.serial in loop.cli_serials[seen_before:], 30,
                          "`nodegate call` to be served the new certificate")
        calls_at_end = loop.python_calls
        ng.wait_until(lambda: loop.python_calls >= calls_at_end + 3, 30, "more python calls")

    for i, delay in enumerate(delays, 1):
        ng.record_metric(f"cert_reload_delay_rotation{i}", delay, "s",
                         f"reload_interval={RELOAD_INTERVAL_S:g}s")
    assert loop.failures == [], loop.failures
    assert_serials_only_move_forward(loop.cli_serials, [old, second.serial, third.serial])
    assert loop.cli_serials[0] == old and loop.cli_serials[-1] == third.serial
    assert all(d <= RELOAD_BOUND_S for d in delays), delays


def test_non_atomic_in_place_rewrite_of_key_and_cert_breaks_no_call(tmp_path, node: SecureNode, stubs):
    # The careless way: truncate-and-write each file, key first. Between and during the writes the
    # files on disk are partial or do not match; the daemon must only go live with a complete, valid set.
    old = node.server.serial
    new = node.pki.issue("server", "server", out_dir=tmp_path / "rotation")

    with CallLoop(node, stubs) as loop:
        ng.wait_until(lambda: loop.python_calls >= 3 and loop.cli_serials, 30, "the call loops")
        node.server.key.write_bytes(new.key.read_bytes())
        node.server.cert.write_bytes(new.cert.read_bytes())
        ng.wait_until(lambda: node.served_serial() == new.serial, RELOAD_BOUND_S, "the new serial")
        seen_before = len(loop.cli_serials)
        ng.wait_until(lambda: new.serial in loop.cli_serials[seen_before:], 30, "`nodegate call` to see it")

    assert loop.failures == [], loop.failures
    assert_serials_only_move_forward(loop.cli_serials, [old, new.serial])


def _mismatched_key(node: SecureNode, tmp_path):
    impostor = node.pki.issue("impostor", "server", out_dir=tmp_path / "impostor")
    ng.replace_atomically(impostor.key, node.server.key)  # the cert on disk stays the old one
    return ("match", "tls.key", node.server.key.name)


def _expired_cert(node: SecureNode, tmp_path):
    expired = node.pki.issue("server", "server", "--not-before", "2020-01-01T00:00:00Z",
                             "--not-after", "2020-01-02T00:00:00Z", out_dir=tmp_path / "expired")
    ng.install_pair(expired, node.server.cert, node.server.key)
    return ("expired",)


def _cert_from_another_ca(node: SecureNode, tmp_path):
    other = ng.Pki(tmp_path / "other-ca").init()
    foreign = other.issue("server", "server")
    ng.install_pair(foreign, node.server.cert, node.server.key)
    return ("verif", "chain", "issuer", "unknown ca", "unable to get")


@pytest.mark.parametrize("break_files", [_mismatched_key, _expired_cert, _cert_from_another_ca],
                         ids=["key_not_matching_cert", "expired_cert", "cert_from_another_ca"])
def test_invalid_replacement_is_logged_and_old_certificate_keeps_serving(
        tmp_path, node: SecureNode, stubs, break_files):
    old = node.server.serial
    stderr_before = len(node.daemon.stderr())

    log_words = break_files(node, tmp_path)

    def rejection_logged():
        new_log = node.daemon.stderr()[stderr_before:].lower()
        return any(w.lower() in new_log for w in log_words)

    ng.wait_until(rejection_logged, RELOAD_BOUND_S, f"a log line about the rejected set {log_words}")
    # Keep connecting for another full bound: every new connection still gets the old certificate.
    deadline = time.monotonic() + RELOAD_BOUND_S
    probes = 0
    while time.monotonic() < deadline:
        assert node.served_serial() == old
        assert ng.roll_die(stubs, node.address, node.client_creds()) in range(1, 7)
        probes += 1
    peer = ng.parse_show_peer(ng.call_dice("--config", node.client_toml, "--show-peer").stdout)
    assert [c.serial for c in peer] == [old]
    assert node.daemon.running()
    assert probes > 0


def test_watcher_recovers_after_an_invalid_replacement(tmp_path, node: SecureNode):
    impostor = node.pki.issue("impostor", "server", out_dir=tmp_path / "impostor")
    stderr_before = len(node.daemon.stderr())
    ng.replace_atomically(impostor.key, node.server.key)
    ng.wait_until(lambda: "match" in node.daemon.stderr()[stderr_before:].lower(), RELOAD_BOUND_S,
                  "the mismatch to be logged")

    fixed = node.pki.issue("server", "server", out_dir=tmp_path / "fixed")
    delay = rotate_and_measure(node, fixed)

    assert delay <= RELOAD_BOUND_S


# ------------------------------------------------------------------------------------------------
# Access log, health, shutdown, client_auth modes


def _wait_for_access_entry(daemon: ng.Daemon, predicate, source=None) -> dict:
    def find():
        return next((e for e in daemon.access_log(source) if predicate(e)), None)

    return ng.wait_until(find, 10, "the access-log line")


def test_access_log_has_one_json_line_per_call_with_the_documented_fields(node: SecureNode, stubs):
    agent = "nodegate-e2e-probe/1.0"
    channel = grpc.secure_channel(node.address, node.client_creds(),
                                  options=[("grpc.primary_user_agent", agent)])
    try:
        stub = stubs.dice_pb2_grpc.DiceServiceStub(channel)
        for _ in range(3):
            stub.RollDie(stubs.dice_pb2.RollDieRequest(), timeout=ng.RPC_TIMEOUT_S)
    finally:
        channel.close()

    ng.wait_until(lambda: len([e for e in node.daemon.access_log()
                               if agent in str(e.get("user_agent"))]) >= 3, 10, "3 access-log lines")
    entries = [e for e in node.daemon.access_log() if agent in str(e.get("user_agent"))]
    assert len(entries) == 3, "exactly one line per call"
    for entry in entries:
        assert set(entry) >= {"time", "authority", "peer", "method", "code", "status", "duration_ms",
                              "user_agent", "client_cn"}, entry
        assert entry["method"] == ROLL_DIE
        assert entry["code"] == 0 and entry["status"] == "OK"
        assert entry["client_cn"] == "dev-client"
        assert entry["authority"] == node.address
        assert "127.0.0.1" in entry["peer"]
        assert isinstance(entry["duration_ms"], (int, float)) and 0 <= entry["duration_ms"] < 5000
        assert entry["time"], "time must be set"


def test_access_log_can_go_to_a_file_relative_to_the_config(tmp_path, pki, start_node, stubs):
    server = pki.issue("server", "server")
    client = pki.issue("dev-client", "client")
    config = ng.node_config(tmp_path, cert=server.cert, key=server.key, ca=pki.ca,
                            access_log="logs-access.jsonl")
    daemon = start_node(config)

    ng.roll_die(stubs, daemon.address, ng.channel_credentials(pki.ca, client.cert, client.key))

    entry = _wait_for_access_entry(daemon, lambda e: e.get("method") == ROLL_DIE,
                                   source=tmp_path / "logs-access.jsonl")
    assert entry["client_cn"] == "dev-client"
    assert daemon.access_log() == [], "nothing on stdout when the log goes to a file"


def test_health_service_reports_serving(node: SecureNode, stubs):
    with ng.fresh_channel(node.address, node.client_creds()) as channel:
        health = stubs.health_pb2_grpc.HealthStub(channel)
        reply = health.Check(stubs.health_pb2.HealthCheckRequest(service=""), timeout=ng.RPC_TIMEOUT_S)
        assert reply.status == stubs.health_pb2.HealthCheckResponse.SERVING

        with pytest.raises(grpc.RpcError) as unknown:
            health.Check(stubs.health_pb2.HealthCheckRequest(service="no.such.Service"),
                         timeout=ng.RPC_TIMEOUT_S)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_watch_streams_not_serving_when_the_node_drains(node: SecureNode, stubs):
    """Watch is a server stream on the node's own core: the current status at once, then every
    change; SIGTERM sends NOT_SERVING and ends the stream before the node exits."""
    hpb = stubs.health_pb2
    with ng.fresh_channel(node.address, node.client_creds()) as channel:
        health = stubs.health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(hpb.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == hpb.HealthCheckResponse.SERVING
        unknown = health.Watch(hpb.HealthCheckRequest(service="no.such.Service"), timeout=30)
        assert next(unknown).status == hpb.HealthCheckResponse.SERVICE_UNKNOWN
        unknown.cancel()

        node.daemon.signal(signal.SIGTERM)
        assert next(watch).status == hpb.HealthCheckResponse.NOT_SERVING
        assert list(watch) == [], "the stream ends after NOT_SERVING"
        assert watch.code() == grpc.StatusCode.OK
    assert node.daemon.wait_exit() == 0


def test_server_reflection_lists_the_services_and_describes_dice(node: SecureNode, stubs):
    from google.protobuf import descriptor_pb2

    rpb = stubs.reflection_pb2
    requests = [rpb.ServerReflectionRequest(list_services=""),
                rpb.ServerReflectionRequest(file_containing_symbol="api.DiceService")]
    with ng.fresh_channel(node.address, node.client_creds()) as channel:
        reflection = stubs.reflection_pb2_grpc.ServerReflectionStub(channel)
        listed, described = list(reflection.ServerReflectionInfo(iter(requests),
                                                                 timeout=ng.RPC_TIMEOUT_S))

    names = {s.name for s in listed.list_services_response.service}
    assert {"api.DiceService", "grpc.health.v1.Health"} <= names, names
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in described.file_descriptor_response.file_descriptor_proto]
    dice = next(f for f in files if f.package == "api")
    service = next(s for s in dice.service if s.name == "DiceService")
    assert [(m.name, m.input_type, m.output_type) for m in service.method] == \
        [("RollDie", ".api.RollDieRequest", ".api.RollDieResponse")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_shuts_down_gracefully_with_exit_code_0(node: SecureNode, stubs, sig):
    assert ng.roll_die(stubs, node.address, node.client_creds()) in range(1, 7)

    node.daemon.signal(sig)

    assert node.daemon.wait_exit() == 0, node.daemon.stderr()
    with pytest.raises(OSError):
        socket.create_connection((ng.HOST, node.port), timeout=2).close()


PUBLIC_ROLL_DIE = """
[[auth.rule]]
method = "/api.DiceService/RollDie"
public = true
"""


def test_client_auth_none_still_denies_an_anonymous_caller_by_default(
        tmp_path, pki, start_node, stubs):
    node = make_secure_node(tmp_path, pki, start_node, client_auth="none")

    with pytest.raises(grpc.RpcError) as err:
        ng.roll_die(stubs, node.address, ng.channel_credentials(pki.ca))

    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "no credential" in err.value.details()


def test_client_auth_none_accepts_a_client_without_certificate_on_a_public_method(
        tmp_path, pki, start_node, stubs):
    node = make_secure_node(tmp_path, pki, start_node, client_auth="none",
                            extra_toml=PUBLIC_ROLL_DIE)

    value = ng.roll_die(stubs, node.address, ng.channel_credentials(pki.ca))

    assert value in range(1, 7)
    entry = _wait_for_access_entry(node.daemon, lambda e: e.get("method") == ROLL_DIE)
    assert not entry["client_cn"], "no certificate, no CN"


def test_client_auth_request_accepts_clients_with_and_without_certificate(
        tmp_path, pki, start_node, stubs):
    node = make_secure_node(tmp_path, pki, start_node, client_auth="request",
                            extra_toml=PUBLIC_ROLL_DIE)

    assert ng.roll_die(stubs, node.address, ng.channel_credentials(pki.ca)) in range(1, 7)
    assert ng.roll_die(stubs, node.address, node.client_creds()) in range(1, 7)


# ------------------------------------------------------------------------------------------------
# Start-up errors: exit non-zero, never listen, and name the file or the field


def _valid_setup(tmp_path, pki):
    server = pki.issue("server", "server")
    return dict(cert=server.cert, key=server.key, ca=pki.ca)


def _missing_cert(tmp_path, pki):
    files = _valid_setup(tmp_path, pki)
    files["cert"] = tmp_path / "pki" / "no-such-server.pem"
    return ng.node_config(tmp_path, **files), (["no-such-server.pem"], [])


def _missing_ca(tmp_path, pki):
    files = _valid_setup(tmp_path, pki)
    files["ca"] = tmp_path / "pki" / "no-such-ca.pem"
    return ng.node_config(tmp_path, **files), (["no-such-ca.pem"], [])


def _key_not_matching_cert(tmp_path, pki):
    files = _valid_setup(tmp_path, pki)
    files["key"] = pki.issue("other", "server").key
    return ng.node_config(tmp_path, **files), (["tls.key", "other-key.pem", "tls.cert", "server.pem"],
                                               ["match"])


def _expired_server_cert(tmp_path, pki):
    expired = pki.issue("expired", "server", "--not-before", "2020-01-01T00:00:00Z",
                        "--not-after", "2020-01-02T00:00:00Z")
    config = ng.node_config(tmp_path, cert=expired.cert, key=expired.key, ca=pki.ca)
    return config, (["tls.cert", "expired.pem"], ["expired"])


def _unknown_key(tmp_path, pki):
    config = ng.node_config(tmp_path, **_valid_setup(tmp_path, pki),
                            extra={"grpc": {"lisen": "127.0.0.1:0"}})
    return config, (["grpc.lisen"], [])


def _bad_client_auth(tmp_path, pki):
    config = ng.node_config(tmp_path, **_valid_setup(tmp_path, pki), client_auth="sometimes")
    return config, (["client_auth"], [])


def _malformed_toml(tmp_path, pki):
    config = tmp_path / "broken.toml"
    config.write_text("[grpc\nlisten = \n")
    return config, (["broken.toml"], [])


def _missing_config_file(tmp_path, pki):
    return tmp_path / "absent.toml", (["absent.toml"], [])


@pytest.mark.parametrize("make_config", [
    _missing_cert, _missing_ca, _key_not_matching_cert, _expired_server_cert, _unknown_key,
    _bad_client_auth, _malformed_toml, _missing_config_file,
], ids=lambda f: f.__name__.lstrip("_"))
def test_startup_error_exits_non_zero_and_names_the_file_or_field(tmp_path, pki, make_config):
    config, (names, reasons) = make_config(tmp_path, pki)

    result = ng.run_to_exit(config, tmp_path)

    assert result.returncode != 0
    assert not ng.LISTENING_RE.search(result.stderr), "must not start listening"
    assert any(n in result.stderr for n in names), f"stderr names none of {names}:\n{result.stderr}"
    for reason in reasons:
        assert reason in result.stderr.lower(), f"stderr lacks {reason!r}:\n{result.stderr}"
