"""KeyValue end to end (issue 4): the seed's KeyValueServer as a durable service.

The real `nodegate serve` with mTLS required; Python grpcio over mTLS with stubs generated from
proto/nodegate/v1/kv.proto. The durability test kills the daemon with SIGKILL while Sets are in
flight, restarts it on the same data dir, and checks every Set that was acknowledged; it appends
"kv_durability=N acknowledged / M found" to $NODEGATE_BUILD_DIR/e2e-metrics.txt.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field

import grpc
import pytest

import nodegate_testlib as ng

NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture(scope="module")
def v1(tmp_path_factory) -> ng.V1Stubs:
    return ng.generate_v1_stubs(tmp_path_factory.mktemp("v1_stubs"))


@dataclass
class Kv:
    """A client of one node's KeyValue service on one mTLS connection."""
    node: ng.SecureNode
    v1: ng.V1Stubs
    start_node: object
    _channels: list = field(default_factory=list)

    def stub(self):
        channel = grpc.secure_channel(self.node.address, self.node.client_creds(),
                                      options=[("grpc.use_local_subchannel_pool", 1)])
        self._channels.append(channel)
        return self.v1.kv_pb2_grpc.KeyValueStub(channel)

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
        self._channels.clear()

    @property
    def pb(self):
        return self.v1.kv_pb2

    def call(self, method: str, **fields):
        request = getattr(self.pb, f"{method}Request")(**fields)
        return getattr(self.stub(), method)(request, timeout=ng.RPC_TIMEOUT_S)

    def error(self, method: str, **fields) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as err:
            self.call(method, **fields)
        return err.value.code()

    def set(self, key: str, value: bytes, content_type: str = "application/octet-stream") -> None:
        self.call("Set", key=key, value=value, content_type=content_type)

    def get(self, key: str):
        return self.call("Get", key=key)

    def exists(self, key: str) -> bool:
        return self.call("Exists", key=key).exists

    def pages(self, prefix: str = "", page_size: int = 0) -> list[list[str]]:
        """Keys(prefix), following next_page_token to the end; one list per page."""
        pages, token = [], ""
        for _ in range(10_000):
            response = self.call("Keys", prefix=prefix, page_size=page_size, page_token=token)
            pages.append(list(response.keys))
            token = response.next_page_token
            if not token:
                return pages
        raise AssertionError("Keys never returned an empty next_page_token")

    def keys(self, prefix: str = "", page_size: int = 0) -> list[str]:
        return [k for page in self.pages(prefix, page_size) for k in page]

    def kill(self) -> None:
        """SIGKILL: open calls are not cancelled here, they fail on their own."""
        self.node.daemon.signal(signal.SIGKILL)
        self.node.daemon.wait_exit()

    def restart(self) -> None:
        """A new daemon on the same config and data dir (and a new ephemeral port)."""
        self.close()
        self.node.daemon = self.start_node(self.node.config)


@pytest.fixture
def make_kv(tmp_path, pki, start_node, v1):
    """Factory: make_kv(**kv_limits) -> a client of a running node with those [kv] settings."""
    clients = []

    def make(**limits) -> Kv:
        extra = "[kv]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items()) if limits else ""
        node = ng.make_secure_node(tmp_path, pki, start_node, extra_toml=extra)
        clients.append(Kv(node, v1, start_node))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def kv(make_kv) -> Kv:
    return make_kv()


# ================================================================================================
# Get, Set, Exists, Delete


def test_set_then_get_returns_the_exact_bytes_and_content_type(kv):
    value = bytes(range(256)) + b"\x00\xff\x00"  # not UTF-8, with NULs
    before_ms = int(time.time() * 1000)

    kv.set("blob", value, "application/x-test")

    got = kv.get("blob")
    assert got.value == value and got.content_type == "application/x-test"
    assert before_ms - 5000 <= got.updated_unix_ms <= int(time.time() * 1000) + 5000


def test_set_overwrites_value_and_content_type(kv):
    kv.set("k", b"one", "text/plain")

    kv.set("k", b'{"two":2}', "application/json")

    got = kv.get("k")
    assert (got.value, got.content_type) == (b'{"two":2}', "application/json")
    assert kv.keys() == ["k"]


def test_empty_value_is_a_value(kv):
    kv.set("empty", b"")

    assert kv.exists("empty") and kv.get("empty").value == b""


def test_get_of_a_missing_key_is_not_found(kv):
    assert kv.error("Get", key="missing") == NOT_FOUND


def test_exists_tells_present_from_missing(kv):
    kv.set("here", b"1")

    assert kv.exists("here") is True
    assert kv.exists("not-here") is False


def test_delete_removes_the_key(kv):
    kv.set("gone", b"1")

    kv.call("Delete", key="gone")

    assert kv.exists("gone") is False
    assert kv.error("Get", key="gone") == NOT_FOUND
    assert kv.keys() == []


def test_delete_of_a_missing_key_is_not_found(kv):
    assert kv.error("Delete", key="missing") == NOT_FOUND


def test_empty_key_is_invalid_argument(kv):
    assert kv.error("Set", key="", value=b"x") == INVALID_ARGUMENT
    assert kv.error("Get", key="") == INVALID_ARGUMENT


# ================================================================================================
# Keys: prefix and paging


def test_keys_pages_through_a_prefix_in_order_without_gaps_or_repeats(kv):
    wanted = [f"a/{i:02d}" for i in range(25)]
    for key in [*wanted, "b/1", "b/2", "a", "ab/1", "0"]:
        kv.set(key, key.encode())

    pages = kv.pages("a/", page_size=10)

    assert [len(p) for p in pages] == [10, 10, 5]
    assert [k for p in pages for k in p] == wanted


def test_keys_without_prefix_lists_everything_in_order(kv):
    keys = ["b", "a/1", "a", "c/x/y", "0"]
    for key in keys:
        kv.set(key, b"")

    assert kv.keys(page_size=2) == sorted(keys)
    assert kv.keys() == sorted(keys)


def test_keys_prefix_is_literal_not_a_pattern(kv):
    for key in ["a_1", "ab1", "a%x", "a.b", "A_1"]:
        kv.set(key, b"")

    assert kv.keys("a_") == ["a_1"]
    assert kv.keys("a%") == ["a%x"]
    assert kv.keys("a.") == ["a.b"]


def test_keys_with_an_unknown_prefix_is_empty(kv):
    kv.set("x", b"")

    assert kv.pages("y", page_size=10) == [[]]


def test_keys_rejects_a_forged_page_token_and_a_negative_page_size(kv):
    assert kv.error("Keys", page_token="garbage") == INVALID_ARGUMENT
    assert kv.error("Keys", page_size=-1) == INVALID_ARGUMENT


# ================================================================================================
# Limits


def test_key_longer_than_max_key_bytes_is_invalid_argument(make_kv):
    kv = make_kv(max_key_bytes=16)

    kv.set("k" * 16, b"fits")
    too_long = kv.error("Set", key="k" * 17, value=b"x")
    multibyte = kv.error("Set", key="é" * 9, value=b"x")  # 9 characters, 18 bytes

    assert (too_long, multibyte) == (INVALID_ARGUMENT, INVALID_ARGUMENT)
    assert kv.keys() == ["k" * 16]


def test_value_larger_than_max_value_bytes_is_invalid_argument_and_keeps_the_old_value(make_kv):
    kv = make_kv(max_value_bytes=64)
    kv.set("v", b"x" * 64)

    refused = kv.error("Set", key="v", value=b"y" * 65)

    assert refused == INVALID_ARGUMENT
    assert kv.get("v").value == b"x" * 64


def test_more_than_max_keys_is_resource_exhausted_but_overwrites_still_work(make_kv):
    kv = make_kv(max_keys=3)
    for key in ("k1", "k2", "k3"):
        kv.set(key, b"1")

    refused = kv.error("Set", key="k4", value=b"1")
    kv.set("k1", b"overwritten")

    assert refused == RESOURCE_EXHAUSTED
    assert kv.exists("k4") is False and kv.get("k1").value == b"overwritten"
    kv.call("Delete", key="k2")
    kv.set("k4", b"1")  # room again
    assert kv.keys() == ["k1", "k3", "k4"]


def test_exceeding_max_total_bytes_is_resource_exhausted_until_space_is_freed(make_kv):
    kv = make_kv(max_total_bytes=1000)
    kv.set("big", b"x" * 600)

    refused = kv.error("Set", key="second", value=b"y" * 600)

    assert refused == RESOURCE_EXHAUSTED
    assert kv.exists("second") is False
    kv.set("big", b"x" * 100)  # shrinking frees space
    kv.set("second", b"y" * 600)
    assert kv.get("second").value == b"y" * 600


# ================================================================================================
# Durability: an acknowledged Set survives kill -9


WRITERS = 4
KILL_AFTER_ACKS = 1000  # per round, across all writers


def value_for(key: str) -> bytes:
    """A deterministic value of 1..2048 bytes per key, so a torn or mixed-up write shows."""
    digest = hashlib.sha256(key.encode()).digest()
    size = 1 + int.from_bytes(digest[:2], "big") % 2048
    return (digest * (size // 32 + 1))[:size]


class Writers:
    """WRITERS threads, each a sequential Set loop on its own connection, recording every
    acknowledged key; they stop at the first error (the daemon went away)."""

    def __init__(self, kv: Kv, round_no: int):
        self.kv = kv
        self.round = round_no
        self.acknowledged: list[str] = []
        self.attempted: list[str] = []
        self.errors: list[grpc.StatusCode] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(w,), daemon=True)
                        for w in range(WRITERS)]

    def __enter__(self) -> "Writers":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "a writer did not stop"

    def _loop(self, writer: int) -> None:
        stub = self.kv.stub()
        i = 0
        while not self.stop.is_set():
            key = f"r{self.round}/w{writer}/{i:06d}"
            with self.lock:
                self.attempted.append(key)
            try:
                stub.Set(self.kv.pb.SetRequest(key=key, value=value_for(key),
                                               content_type=f"test/w{writer}"),
                         timeout=ng.RPC_TIMEOUT_S)
            except grpc.RpcError as err:
                with self.lock:
                    self.errors.append(err.code())
                return
            with self.lock:
                self.acknowledged.append(key)
            i += 1

    def acks(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def test_every_acknowledged_set_survives_sigkill_mid_stream(make_kv):
    kv = make_kv()
    acknowledged: list[str] = []
    attempted: list[str] = []

    for round_no in range(2):  # kill, restart, write again, kill again: recovery twice
        with Writers(kv, round_no) as writers:
            ng.wait_until(lambda: writers.acks() >= KILL_AFTER_ACKS, 60,
                          f"{KILL_AFTER_ACKS} acknowledged Sets")
            kill_at = writers.acks()
            kv.kill()  # while the writers are mid-stream
            ng.wait_until(lambda: len(writers.errors) == WRITERS, 30, "every writer to fail")
        kv.restart()
        assert writers.errors == [grpc.StatusCode.UNAVAILABLE] * WRITERS, \
            "every writer should have been cut off by the kill"
        assert writers.acks() >= kill_at
        acknowledged += writers.acknowledged
        attempted += writers.attempted

    reader = kv.stub()
    missing, wrong = [], []
    for key in acknowledged:
        try:
            got = reader.Get(kv.pb.GetRequest(key=key), timeout=ng.RPC_TIMEOUT_S)
        except grpc.RpcError as err:
            assert err.code() == NOT_FOUND, err
            missing.append(key)
            continue
        writer = key.split("/")[1]
        if got.value != value_for(key) or got.content_type != f"test/{writer}":
            wrong.append(key)
    found = len(acknowledged) - len(missing) - len(wrong)
    ng.record_metric("kv_durability", len(acknowledged), " acknowledged",
                     f"/ {found} found (SIGKILL mid-stream twice, {WRITERS} sequential writers)")

    assert (missing[:10], wrong[:10]) == ([], []), \
        f"{len(missing)} acknowledged keys missing, {len(wrong)} with a wrong value"
    assert found == len(acknowledged)
    # The listing agrees: every acknowledged key, and nothing that was never attempted (a Set in
    # flight at the kill may or may not have landed).
    listed = set(kv.keys(page_size=1000))
    assert set(acknowledged) <= listed <= set(attempted)


def test_store_is_a_sqlite_database_in_wal_mode_under_the_data_dir(kv):
    kv.set("k", b"v")
    db = kv.node.config.parent / "data" / "nodegate.db"

    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]

    assert mode == "wal"
