"""Makes tests/nodegate_testlib.py importable from tests/e2e, tests/interop and tests/fault, holds the
fixtures every suite shares (binary check, a fresh CA, generated stubs), and fails any test during
which a nodegate process wrote a sanitizer report (issue 13).

Every process the suites start (daemons, CLI runs, tunnel and echo proxies) inherits ASAN_OPTIONS,
UBSAN_OPTIONS, LSAN_OPTIONS and TSAN_OPTIONS from here with `log_path` pointing into one directory
per pytest session. A report therefore cannot hide in a daemon's stderr file or behind a test that
expects a non-zero exit: after each test the directory is checked, and a report written later (by a
module-scoped daemon stopped after its last test) fails the session. On a build without sanitizers
nothing reads these variables.
"""
import os
import sys
import tempfile
from pathlib import Path

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

SANITIZER_LOG_DIR = Path(tempfile.mkdtemp(prefix="nodegate-sanitizer-"))
for _var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"):
    _opts = os.environ.get(_var, "")
    # Later flags win, so this overrides any log_path from the caller.
    os.environ[_var] = f"{_opts}:log_path={SANITIZER_LOG_DIR}/report" if _opts else \
        f"log_path={SANITIZER_LOG_DIR}/report"

_reported: set[Path] = set()


def _new_reports() -> list[Path]:
    return sorted(p for p in SANITIZER_LOG_DIR.iterdir() if p not in _reported)


def _describe(reports: list[Path]) -> str:
    _reported.update(reports)
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in reports)


@pytest.fixture(autouse=True)
def no_sanitizer_reports():
    """Set up before, torn down after the test's own fixtures, so it sees what a daemon stopped in
    teardown (SIGTERM → exit → LeakSanitizer) wrote."""
    _reported.update(_new_reports())  # already failed the session; do not blame this test
    yield
    reports = _new_reports()
    if reports:
        pytest.fail(f"sanitizer report(s) from a nodegate process:\n{_describe(reports)}",
                    pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    reports = _new_reports()
    if reports:
        sys.stderr.write(f"\nsanitizer report(s) after the last test:\n{_describe(reports)}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not any(SANITIZER_LOG_DIR.iterdir()):
        SANITIZER_LOG_DIR.rmdir()  # reports are kept for a look after the run; an empty dir is not


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
