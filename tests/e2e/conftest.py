"""Fixtures for the end-to-end suite: a CA made by `nodegate pki`, running daemons that are always
stopped in teardown, and Python stubs generated from the repository's protos."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also works without tests/conftest.py

import nodegate_testlib as ng  # noqa: E402
from nodegate_testlib import SecureNode, make_secure_node  # noqa: E402


@pytest.fixture
def start_node(tmp_path):
    """Factory: start_node(config) -> a Daemon that is listening. Every daemon is stopped in teardown."""
    daemons: list[ng.Daemon] = []

    def start(config: Path, wait: bool = True) -> ng.Daemon:
        daemon = ng.Daemon(config, tmp_path / f"daemon{len(daemons)}")
        daemons.append(daemon)
        daemon.start()
        if wait:
            daemon.wait_listening()
        return daemon

    yield start
    errors = []
    for daemon in daemons:  # stop every one, then report the first that did not exit cleanly
        try:
            daemon.stop()
        except AssertionError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def node(tmp_path, pki, start_node) -> SecureNode:
    return make_secure_node(tmp_path, pki, start_node)


@pytest.fixture
def node_with_crl(tmp_path, pki, start_node) -> SecureNode:
    return make_secure_node(tmp_path, pki, start_node, with_crl=True)


@pytest.fixture
def other_ca(tmp_path) -> ng.Pki:
    """A second, unrelated CA."""
    return ng.Pki(tmp_path / "other-ca").init()


@pytest.fixture(scope="module")
def postgres():
    """A private PostgreSQL server for the module (ng.PostgresServer), stopped and removed at the
    end even when a test failed. Skipped, naming scripts/install-deps, only if the PostgreSQL
    binaries (or, as root, the `postgres` user) are missing."""
    reason = ng.PostgresServer.unavailable()
    if reason:
        pytest.skip(reason)
    server = ng.PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
