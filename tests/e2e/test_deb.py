"""The .deb (issue 15 §4, docs/install.md): CPack builds the `nodegate` package from this build tree,
`dpkg -i` installs it on this machine, and the test checks what it installed — files, Depends, the
`nodegate` system user and its directories, the systemd unit (`systemd-analyze verify`), the bash
completion — then runs the installed binary the way the unit does (as user nodegate, config in
/etc/nodegate, state in /var/lib/nodegate) and calls it over mTLS. `dpkg --purge` in teardown
leaves the machine as it was (no binary, no user, no directories).

systemd is not PID 1 in the test container, so the unit is verified, not started. Skipped (with
the reason) without dpkg or root, or when a nodegate package is already installed (the test would
replace it). About 40 s: most of it is CPack stripping and compressing the binary.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import resource
import shutil
import signal
import stat
import subprocess
from pathlib import Path
from typing import Optional

import pytest

import nodegate_testlib as ng

PACKAGE = "nodegate"
BIN = Path("/usr/bin/nodegate")
UNIT = Path("/usr/lib/systemd/system/nodegate.service")
COMPLETION = Path("/usr/share/bash-completion/completions/nodegate")
CONF_DIR = Path("/etc/nodegate")
STATE_DIR = Path("/var/lib/nodegate")
CPACK_TIMEOUT_S = 600
DPKG_TIMEOUT_S = 300
LOCK_PATH = Path("/run/lock/nodegate-test-deb.lock")


def unavailable() -> Optional[str]:
    for tool in ("dpkg", "dpkg-deb", "cpack", "setpriv", "prlimit"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "dpkg -i needs root"
    if ng.sanitized_build():
        return f"sanitized build ({ng.sanitized_build()}): not a binary to package"
    status = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", PACKAGE], capture_output=True,
                            text=True)
    if status.returncode == 0 and "installed" in status.stdout.split():
        return f"a {PACKAGE} package is already installed here; the test would replace it"
    if CONF_DIR.exists() or STATE_DIR.exists():
        return f"{CONF_DIR} or {STATE_DIR} exists already; the test would write into it"
    return None


REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def run(cmd: list, *, timeout: float = DPKG_TIMEOUT_S, check: bool = True,
        **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kwargs)
    if check:
        assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n"
                                      f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module", autouse=True)
def machine_lock():
    """One run of this module per machine at a time (two worktrees' suites would both dpkg -i and
    purge the one package): an flock on /run/lock, then the state is checked again."""
    with open(LOCK_PATH, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reason = unavailable()
        if reason is not None:
            pytest.skip(reason)
        yield


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    # The runtime component only: nodegate-dev (the static archives) is built by `make deb`.
    run(["cpack", "-G", "DEB", "-B", out, "--config", ng.BUILD_DIR / "CPackConfig.cmake",
         "-D", "CPACK_COMPONENTS_ALL=runtime"], timeout=CPACK_TIMEOUT_S)
    debs = sorted(out.glob(f"{PACKAGE}_*.deb"))
    assert len(debs) == 1, list(out.iterdir())
    return debs[0]


@pytest.fixture(scope="module")
def installed(deb):
    """dpkg -i the package; dpkg --purge afterwards, whatever happened."""
    try:
        proc = run(["dpkg", "-i", deb])
        yield proc
    finally:
        remove_what_the_test_wrote()
        run(["dpkg", "--purge", PACKAGE], check=False)


def remove_what_the_test_wrote() -> None:
    """The config and PKI the serve test put in /etc/nodegate (purge keeps an admin's files)."""
    for path in (CONF_DIR / "node.toml", CONF_DIR / "pki"):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def test_the_package_depends_on_the_shared_libraries_it_links(deb):
    depends = run(["dpkg-deb", "-f", deb, "Depends"]).stdout

    # dpkg-shlibdeps: every Debian library the binary links, with a version.
    for library in ("libgrpc++1.51", "libssl3", "libsqlite3-0", "libprotobuf32", "libpq5",
                    "adduser"):
        assert library in depends, depends


def test_dpkg_installs_the_binary_unit_docs_nginx_template_and_completion(installed):
    files = set(run(["dpkg", "-L", PACKAGE]).stdout.split())

    for path in (BIN, UNIT, COMPLETION, Path("/usr/lib/sysusers.d/nodegate.conf"),
                 Path("/usr/share/nodegate/nginx/nodegate.conf"),
                 Path("/usr/share/doc/nodegate/README.md"), Path("/usr/share/doc/nodegate/install.md"),
                 Path("/usr/share/doc/nodegate/deploy.md")):
        assert str(path) in files and path.exists(), path
    assert os.access(BIN, os.X_OK)
    assert "error_page 496" in Path("/usr/share/nodegate/nginx/nodegate.conf").read_text()
    assert run([BIN, "--help"]).stdout.startswith("nodegate")


def test_postinst_creates_the_system_user_and_its_directories(installed):
    user = pwd.getpwnam("nodegate")
    group = grp.getgrnam("nodegate")

    assert user.pw_uid < 1000 and user.pw_gid == group.gr_gid, user  # a system user
    assert (user.pw_dir, user.pw_shell) == (str(STATE_DIR), "/usr/sbin/nologin"), user
    state, conf = STATE_DIR.stat(), CONF_DIR.stat()
    assert (state.st_uid, stat.S_IMODE(state.st_mode)) == (user.pw_uid, 0o700)
    assert (conf.st_uid, conf.st_gid, stat.S_IMODE(conf.st_mode)) == (0, group.gr_gid, 0o750)


def test_the_unit_is_hardened_and_verifies(installed):
    unit = UNIT.read_text()

    for line in ("User=nodegate", "ExecStart=/usr/bin/nodegate serve --config /etc/nodegate/node.toml",
                 "ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE=65536", "ProtectSystem=strict",
                 "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
                 "StateDirectory=nodegate", "ConfigurationDirectory=nodegate"):
        assert f"\n{line}\n" in unit, line
    # Works without systemd as PID 1 (it is not, in the test container). --man=no: no man pages
    # here. A bad directive or a missing ExecStart binary is printed and makes the exit non-zero.
    assert shutil.which("systemd-analyze"), "systemd-analyze: scripts/install-deps installs systemd"
    proc = run(["systemd-analyze", "verify", "--man=no", UNIT], check=False)
    assert proc.returncode == 0 and "nodegate.service" not in proc.stderr, proc.stderr


def test_bash_completion_offers_every_subcommand_of_the_installed_binary(installed):
    help_text = run([BIN, "--help"]).stdout
    section = help_text.split("Subcommands:", 1)[1]
    subcommands = {line.split()[0] for line in section.splitlines()
                   if line.startswith("  ") and not line.startswith("   ") and line.strip()}
    script = (f"source {COMPLETION}\n"
              'COMP_WORDS=(nodegate ""); COMP_CWORD=1; _nodegate; echo "${COMPREPLY[*]}"\n'
              'COMP_WORDS=(nodegate pki is); COMP_CWORD=2; _nodegate; echo "${COMPREPLY[*]}"\n'
              'COMP_WORDS=(nodegate call dice --tar); COMP_CWORD=3; _nodegate; echo "${COMPREPLY[*]}"\n')

    top, pki, flag = run(["bash", "-c", script]).stdout.splitlines()

    assert {"serve", "pki", "call", "deploy"} <= subcommands, help_text
    assert set(top.split()) == subcommands, (top, subcommands)
    assert pki == "issue" and flag == "--target", (pki, flag)


def test_the_installed_binary_serves_as_the_nodegate_user_like_the_unit(installed, tmp_path):
    user = pwd.getpwnam("nodegate")
    pki = ng.Pki(CONF_DIR / "pki").init()
    server, client = pki.issue("server", "server"), pki.issue("dev-client", "client")
    config = ng.node_config(CONF_DIR, cert=server.cert, key=server.key, ca=pki.ca,
                            extra={"node": {"id": "deb-node", "data_dir": str(STATE_DIR)}})
    for path in [config, *pki.dir.rglob("*")]:  # root:nodegate, readable by the group only
        os.chown(path, 0, user.pw_gid)
        os.chmod(path, 0o750 if path.is_dir() else 0o640)
    os.chown(pki.dir, 0, user.pw_gid)
    os.chmod(pki.dir, 0o750)
    stderr_path = tmp_path / "serve.stderr"

    # The unit's User=, Group=, NoNewPrivileges=, LimitNOFILE= and WorkingDirectory=. LimitNOFILE
    # only up to the hard limit this container allows (a container may cap it below 65536).
    nofile = min(65536, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            ["prlimit", f"--nofile={nofile}", "--", "setpriv", "--reuid=nodegate", "--regid=nodegate",
             "--init-groups", "--no-new-privs", str(BIN), "serve", "--config",
             str(CONF_DIR / "node.toml")],
            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, cwd=STATE_DIR)
    try:
        def listening():
            m = ng.LISTENING_RE.search(stderr_path.read_text(errors="replace"))
            if m:
                return int(m.group(1))
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}:\n{stderr_path.read_text()}")
            return None

        port = ng.wait_until(listening, ng.START_TIMEOUT_S, "the 'listening grpc=' line")
        call = run([BIN, "call", "whoami", "--target", f"{ng.HOST}:{port}", "--ca", pki.ca,
                    "--cert", client.cert, "--key", client.key], timeout=ng.CLI_TIMEOUT_S)
        refused = run([BIN, "call", "whoami", "--target", f"{ng.HOST}:{port}", "--ca", pki.ca],
                      timeout=ng.CLI_TIMEOUT_S, check=False)
        proc.send_signal(signal.SIGHUP)  # ExecReload
        again = run([BIN, "call", "whoami", "--target", f"{ng.HOST}:{port}", "--ca", pki.ca,
                     "--cert", client.cert, "--key", client.key], timeout=ng.CLI_TIMEOUT_S)

        assert call.stdout.startswith("node:dev-client "), call.stdout
        assert refused.returncode != 0, refused.stdout
        assert again.stdout.startswith("node:dev-client ") and proc.poll() is None
        owners = {p.stat().st_uid for p in STATE_DIR.rglob("*")}
        assert owners == {user.pw_uid}, "the daemon writes its state as nodegate, and only there"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=ng.EXIT_TIMEOUT_S)
        remove_what_the_test_wrote()
    assert code == 0, stderr_path.read_text()


def test_purge_leaves_no_binary_user_or_directories(installed, deb):
    # Last in the module (pytest keeps file order): purges what the module installed; the
    # fixture's own purge then finds nothing to do.
    run(["dpkg", "--purge", PACKAGE])

    assert not BIN.exists() and not UNIT.exists() and not COMPLETION.exists()
    assert not STATE_DIR.exists() and not CONF_DIR.exists()
    with pytest.raises(KeyError):
        pwd.getpwnam("nodegate")
    with pytest.raises(KeyError):
        grp.getgrnam("nodegate")
