"""Fixtures of the gRPC interop suites: one PKI and one grpc_interop_server per test module."""

from __future__ import annotations

import pytest

import grpc_interop as gi


@pytest.fixture(scope="module")
def interop_material(tmp_path_factory) -> gi.Material:
    gi.require_binaries()
    return gi.make_material(tmp_path_factory.mktemp("interop_material"))


@pytest.fixture(scope="module")
def interop_server(interop_material, tmp_path_factory):
    server = gi.InteropServer(interop_material, tmp_path_factory.mktemp("interop_server"))
    yield server
    server.stop()
