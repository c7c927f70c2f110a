"""Makes tests/nodegate_testlib.py importable from tests/e2e, tests/interop and tests/fault, and holds
the fixtures every suite shares: the binary check, a fresh CA, generated Python stubs."""
import sys
from pathlib import Path

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import pytest  # noqa: E402

import nodegate_testlib as ng  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def nodegate_binary() -> Path:
    if not ng.NODEGATE_BIN.is_file():
        pytest.fail(f"nodegate binary not found at {ng.NODEGATE_BIN} (set NODEGATE_BIN)", pytrace=False)
    return ng.NODEGATE_BIN


@pytest.fixture(scope="session")
def stubs(tmp_path_factory) -> ng.Stubs:
    return ng.generate_stubs(tmp_path_factory.mktemp("generated"))


@pytest.fixture
def pki(tmp_path) -> ng.Pki:
    """A fresh CA in tmp_path/pki."""
    return ng.Pki(tmp_path / "pki").init()
