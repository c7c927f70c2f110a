"""Fixtures for the fault suite (issue 12); the helpers are in faultlib.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # nodegate_testlib
sys.path.insert(0, str(Path(__file__).resolve().parent))         # faultlib

import nodegate_testlib as ng  # noqa: E402
from faultlib import FaultDaemon  # noqa: E402


@pytest.fixture(scope="session")
def v1(tmp_path_factory) -> ng.V1Stubs:
    return ng.generate_v1_stubs(tmp_path_factory.mktemp("v1"))


@pytest.fixture
def start_node(tmp_path):
    """Factory: start_node(config, preexec_fn=None, wait=True) -> a FaultDaemon; all are stopped
    (SIGTERM, then SIGKILL) in teardown."""
    daemons: list[FaultDaemon] = []

    def start(config: Path, preexec_fn=None, wait: bool = True) -> FaultDaemon:
        daemon = FaultDaemon(config, tmp_path / f"daemon{len(daemons)}", preexec_fn)
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


