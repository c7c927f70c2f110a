"""`scripts/fleet` (`make fleet`), run for real: a private PostgreSQL, three replicas of one node on
it and nginx in front (docs/deploy.md, "Fleet").

The script runs as a user would run it, in the foreground, on a block of free loopback ports and a
scratch directory; the tests call through its nginx with the `nodegate` CLI and the client config
it wrote, then stop it with SIGINT (what Ctrl-C sends) and check that nothing it started is left:
not its processes, not its ports. If a test fails first, teardown does the same, and SIGKILL as
the last resort (the script's children have a parent-death signal, so they go with it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

import nodegate_testlib as ng

SCRIPT = ng.SOURCE_DIR / "scripts" / "fleet"
PG_BIN = Path(os.environ.get("NODEGATE_PG_BIN", "/usr/lib/postgresql/15/bin"))
NODE_ID = "fleet-node"
REPLICAS = 3
READY_TIMEOUT_S = 120.0  # initdb, PostgreSQL, three daemons and nginx on a busy machine
STOP_TIMEOUT_S = 60.0    # the script's own bounds: nginx, replicas (drain), PostgreSQL
PID_LINE_RE = re.compile(r"^fleet: (\S+) pid (\d+) on ")

pytestmark = pytest.mark.skipif(
    not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK))
    or not os.access(PG_BIN / "postgres", os.X_OK),
    reason="nginx and PostgreSQL 15 are needed (scripts/install-deps installs both)")


@dataclass
class RunningFleet:
    directory: Path
    base_port: int
    proc: subprocess.Popen
    output: Path

    @property
    def ports(self) -> list[int]:
        return list(range(self.base_port, self.base_port + REPLICAS + 2))

    @property
    def client(self) -> Path:
        return self.directory / "client.toml"

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """What the script said it started: {name: pid}."""
        return {m.group(1): int(m.group(2)) for m in map(PID_LINE_RE.match, self.text().splitlines())
                if m}

    def call(self, *args: str) -> str:
        return ng.run_nodegate("call", *args, "--config", self.client).stdout

    def access_log(self, replica: int) -> list[dict]:
        path = self.directory / f"replica-{replica}" / "access.log"
        return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]

    def stop(self, sig: int = signal.SIGINT) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        return self.proc.returncode


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent (the script, gone by now) could reap it.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def start_fleet(directory: Path, *extra: str) -> RunningFleet:
    base_port = ng.free_port_block(REPLICAS + 2)
    output = directory.parent / f"{directory.name}.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            ["/usr/bin/python3", str(SCRIPT), "--dir", str(directory), "--base-port", str(base_port),
             "--nodegate", str(ng.NODEGATE_BIN), *extra],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory.parent)
    return RunningFleet(directory, base_port, proc, output)


@contextlib.contextmanager
def scratch_dir():
    """A directory the `postgres` user can reach, as PostgreSQL runs as that user under root
    (pytest's own tmp_path is private to root). Removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="nodegate-fleet-test-"))
    try:
        os.chmod(path, 0o711)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def fleet():
    with scratch_dir() as directory:
        running = start_fleet(directory / "fleet")
        try:
            ng.wait_until(lambda: running.proc.poll() is not None or "fleet: ready" in running.text(),
                          READY_TIMEOUT_S, "scripts/fleet to print 'fleet: ready'", interval=0.2)
            assert running.proc.poll() is None, (
                f"scripts/fleet exited {running.proc.returncode}:\n{running.text()}")
            yield running
        finally:
            running.stop()


def test_the_fleet_started_postgres_three_replicas_and_nginx_and_said_how_to_use_it(fleet):
    assert set(fleet.pids()) == {"PostgreSQL", "replica-1", "replica-2", "replica-3", "nginx"}, \
        fleet.text()
    text = fleet.text()
    # Paths relative to where it was started (the tests start it in the fleet's parent directory).
    assert "nodegate call dice --config fleet/client.toml -n 6" in text, text
    assert f"https://localhost:{fleet.base_port}/nodegate.v1.Identity/Ping" in text, text
    assert "Ctrl-C stops" in text
    rendered = (fleet.directory / "nginx" / "nginx.conf").read_text()
    assert "keepalive 64;" in rendered
    for port in fleet.ports[1:-1]:
        assert f"server 127.0.0.1:{port};" in rendered, rendered


def test_calls_through_nginx_reach_more_than_one_replica(fleet):
    before = [len(fleet.access_log(i)) for i in range(1, REPLICAS + 1)]

    out = fleet.call("dice", "-n", "9")

    assert len(out.split()) == 9 and all(1 <= int(v) <= 6 for v in out.split()), out
    after = ng.wait_until(
        lambda: (lambda a: a if sum(a) - sum(before) >= 9 else None)(
            [len(fleet.access_log(i)) for i in range(1, REPLICAS + 1)]),
        ng.RPC_TIMEOUT_S, "9 access-log lines over the replicas")
    served = [a - b for a, b in zip(after, before)]
    assert sum(1 for n in served if n > 0) >= 2, served


def test_kv_written_through_one_replica_is_read_through_the_others(fleet):
    fleet.call("kv", "set", "greeting", "hello from the fleet")

    reads = [fleet.call("kv", "get", "greeting").strip() for _ in range(REPLICAS * 2)]

    assert reads == ["hello from the fleet"] * (REPLICAS * 2), reads
    readers = {i for i in range(1, REPLICAS + 1) for e in fleet.access_log(i)
               if e["method"] == "/nodegate.v1.KeyValue/Get"}
    assert len(readers) >= 2, readers


def test_a_replica_of_another_node_on_the_fleets_database_is_refused(fleet, tmp_path):
    replica = (fleet.directory / "replica-1" / "node.toml").read_text()
    other = tmp_path / "other.toml"
    other.write_text(replica.replace(f'id = "{NODE_ID}"', 'id = "other-node"')
                     .replace(f"127.0.0.1:{fleet.ports[1]}", f"127.0.0.1:{ng.free_port_block(1)}")
                     .replace('"../pki/', f'"{fleet.directory}/pki/'))

    proc = ng.run_to_exit(other, tmp_path)

    assert proc.returncode != 0
    pg_port = fleet.ports[-1]
    assert (f"store.url: database 127.0.0.1:{pg_port}/nodegate belongs to node '{NODE_ID}', "
            "not to node.id 'other-node'") in proc.stderr, proc.stderr
    assert f'set node.id = "{NODE_ID}"' in proc.stderr, proc.stderr
    assert "give store.url another database" in proc.stderr, proc.stderr
    # The fleet is untouched.
    assert fleet.call("ping").strip().endswith(NODE_ID)


def test_sigint_stops_everything_the_script_started(fleet):
    pids = fleet.pids()
    assert len(pids) == REPLICAS + 2

    code = fleet.stop(signal.SIGINT)

    assert code == 0, fleet.text()
    assert "fleet: stopped" in fleet.text()
    left = {name: pid for name, pid in pids.items() if alive(pid)}
    assert not left, f"still running after the script exited: {left}"
    # Nothing still listens. SO_REUSEADDR: PostgreSQL closes its clients' connections first when it
    # stops, and their TIME_WAIT on its port failed a plain bind once (under ASan, CI load).
    listening = [p for p in fleet.ports if not ng.port_bindable(p, reuse_address=True)]
    assert not listening, f"fleet ports still listening: {listening}"
    # Each replica drained and exited by itself (SIGTERM -> exit 0), not killed.
    for i in range(1, REPLICAS + 1):
        log = (fleet.directory / f"replica-{i}" / "serve.log").read_text()
        assert "stopped" in log.splitlines()[-1], log[-2000:]


def test_check_mode_restarts_on_the_kept_state_makes_a_call_and_leaves_nothing():
    with scratch_dir() as directory:
        first = start_fleet(directory / "fleet", "--check")
        try:
            assert first.proc.wait(timeout=READY_TIMEOUT_S + STOP_TIMEOUT_S) == 0, first.text()
        finally:
            first.stop()
        assert "fleet: initdb" in first.text()

        again = start_fleet(directory / "fleet", "--check")
        try:
            code = again.proc.wait(timeout=READY_TIMEOUT_S + STOP_TIMEOUT_S)
        finally:
            again.stop()

        assert code == 0, again.text()
        assert "fleet: initdb" not in again.text(), "the PostgreSQL cluster is kept across runs"
        assert "check passed" in again.text() and "node=fleet-node" in again.text()
        left = {name: pid for name, pid in again.pids().items() if alive(pid)}
        assert not left, left
