"""PortService end to end (issue 4): the seed's GetFreePort(job_code), with leases.

The real `nodegate serve` with mTLS required and a `[ports]` range chosen by the test: a block of
consecutive ports below the kernel's ephemeral range that were all bindable on 127.0.0.1 when the
test began (the daemon's own gRPC port is ephemeral, so it never falls inside the block). Clients
are Python grpcio over mTLS with stubs generated from proto/nodegate/v1/port.proto.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import socket
from dataclasses import dataclass
from typing import Optional

import grpc
import pytest

import nodegate_testlib as ng


@pytest.fixture(scope="module")
def v1(tmp_path_factory) -> ng.V1Stubs:
    return ng.generate_v1_stubs(tmp_path_factory.mktemp("v1_stubs"))


@dataclass
class PortNode:
    node: ng.SecureNode
    v1: ng.V1Stubs
    first: int
    last: int
    start_node: object

    @property
    def range(self) -> range:
        return range(self.first, self.last + 1)

    def channel(self) -> contextlib.AbstractContextManager[grpc.Channel]:
        return ng.fresh_channel(self.node.address, self.node.client_creds())

    def stub(self, channel: grpc.Channel):
        return self.v1.port_pb2_grpc.PortServiceStub(channel)

    def get_port(self, job: str) -> int:
        with self.channel() as channel:
            return self.stub(channel).GetFreePort(self.v1.port_pb2.GetFreePortRequest(job_code=job),
                                                  timeout=ng.RPC_TIMEOUT_S).port

    def get_port_error(self, job: str) -> Optional[grpc.StatusCode]:
        try:
            self.get_port(job)
            return None
        except grpc.RpcError as err:
            return err.code()

    def release(self, job: str) -> None:
        with self.channel() as channel:
            self.stub(channel).ReleasePort(self.v1.port_pb2.ReleasePortRequest(job_code=job),
                                           timeout=ng.RPC_TIMEOUT_S)

    def restart(self, sig: int) -> None:
        """Stops the daemon with `sig` and starts a new one on the same config and data dir."""
        self.node.daemon.signal(sig)
        self.node.daemon.wait_exit()
        self.node.daemon = self.start_node(self.node.config)


@pytest.fixture
def make_port_node(tmp_path, pki, start_node, v1):
    """Factory: make_port_node(count, lease_ttl="1h") -> a running node leasing `count` ports."""

    def make(count: int, lease_ttl: str = "1h") -> PortNode:
        first = ng.free_port_block(count)
        last = first + count - 1
        node = ng.make_secure_node(
            tmp_path, pki, start_node,
            extra_toml=f'[ports]\nfirst = {first}\nlast = {last}\nlease_ttl = "{lease_ttl}"\n')
        return PortNode(node, v1, first, last, start_node)

    return make


@contextlib.contextmanager
def listening_on(ports):
    """Binds and listens on every port (127.0.0.1) at once; fails if any of them is taken."""
    sockets = []
    try:
        for port in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind((ng.HOST, port))
            s.listen()
        yield
    finally:
        for s in sockets:
            s.close()


# ================================================================================================


JOBS = 50
CALLS_PER_JOB = 4
CHANNELS = 8


def test_200_concurrent_calls_give_each_job_one_port_no_two_jobs_share_one_and_all_are_bindable(
        make_port_node):
    ports = make_port_node(JOBS + 14)
    jobs = [f"job-{i:02d}" for i in range(JOBS)]
    requests = [jobs[i % JOBS] for i in range(JOBS * CALLS_PER_JOB)]  # calls of one job interleave
    channels = [grpc.secure_channel(ports.node.address, ports.node.client_creds(),
                                    options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(CHANNELS)]
    try:
        for channel in channels:  # connect first, so the calls below really overlap
            grpc.channel_ready_future(channel).result(timeout=ng.START_TIMEOUT_S)
        stubs = [ports.stub(channel) for channel in channels]

        futures = [(job, stubs[i % CHANNELS].GetFreePort.future(
                        ports.v1.port_pb2.GetFreePortRequest(job_code=job), timeout=30))
                   for i, job in enumerate(requests)]
        answers = collections.defaultdict(set)
        for job, future in futures:
            answers[job].add(future.result().port)
    finally:
        for channel in channels:
            channel.close()

    assert sorted(answers) == sorted(jobs)
    assert {job: len(got) for job, got in answers.items() if len(got) != 1} == {}, \
        f"a job got different ports: {dict(answers)}"
    port_of = {job: next(iter(got)) for job, got in answers.items()}
    shared = {p: [j for j in jobs if port_of[j] == p] for p in port_of.values()}
    assert {p: js for p, js in shared.items() if len(js) > 1} == {}, "two jobs share a port"
    assert all(p in ports.range for p in port_of.values())
    with listening_on(port_of.values()):  # every leased port is bindable right after
        pass
    ng.record_metric("ports_concurrent_getfreeport", len(requests), "calls",
                     f"jobs={JOBS} distinct_ports={len(set(port_of.values()))} "
                     f"range={ports.first}-{ports.last}")


def test_same_job_gets_its_port_back_while_it_listens_on_it(make_port_node):
    ports = make_port_node(4)
    port = ports.get_port("job-a")

    with listening_on([port]):
        again = ports.get_port("job-a")
        other = ports.get_port("job-b")

    assert again == port
    assert other != port and other in ports.range


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_leases_survive_a_restart(make_port_node, sig):
    ports = make_port_node(12)
    before = {f"job-{i}": ports.get_port(f"job-{i}") for i in range(10)}

    ports.restart(sig)

    after = {job: ports.get_port(job) for job in before}
    assert after == before
    newcomer = ports.get_port("job-new")
    assert newcomer in ports.range and newcomer not in before.values()


def test_exhausted_range_answers_resource_exhausted_and_keeps_existing_leases(make_port_node):
    ports = make_port_node(3)
    leased = [ports.get_port(job) for job in ("job-a", "job-b", "job-c")]

    refused = ports.get_port_error("job-d")

    assert sorted(leased) == list(ports.range)
    assert refused == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ports.get_port("job-a") == leased[0]


def test_released_port_goes_to_the_next_job(make_port_node):
    ports = make_port_node(2)
    port_a = ports.get_port("job-a")
    ports.get_port("job-b")
    assert ports.get_port_error("job-c") == grpc.StatusCode.RESOURCE_EXHAUSTED

    ports.release("job-a")

    assert ports.get_port("job-c") == port_a
    assert ports.get_port_error("job-a") == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_port_in_use_on_the_host_is_not_handed_out(make_port_node):
    ports = make_port_node(3)
    busy = ports.first + 1

    with listening_on([busy]):
        got = {ports.get_port("job-a"), ports.get_port("job-b")}
        refused = ports.get_port_error("job-c")

    assert got == {ports.first, ports.last}
    assert refused == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_expired_lease_frees_its_port_for_another_job(make_port_node):
    ports = make_port_node(1, lease_ttl="2s")
    port = ports.get_port("job-a")
    assert ports.get_port_error("job-b") == grpc.StatusCode.RESOURCE_EXHAUSTED

    got = ng.wait_until(lambda: ports.get_port("job-b"), 15,
                        "job-b to get the port once job-a's lease expires", interval=0.2)

    assert got == port


@pytest.mark.parametrize("job", ["", "has space", "x" * 129, "slash/job"])
def test_invalid_job_code_is_invalid_argument(make_port_node, job):
    ports = make_port_node(2)

    assert ports.get_port_error(job) == grpc.StatusCode.INVALID_ARGUMENT
