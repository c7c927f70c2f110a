#!/usr/bin/python3
"""`make bench`: the cost of each security layer, and nodegate against Go and Python servers.

One run on this machine, unary /api.DiceService/RollDie, measured with two independent load
generators: ours (`nodegate bench`, gRPC C++) and a Go one (bench/go/src/loadgen, grpc-go). A
figure counts only if it holds with both: the two clients frame and flush their writes
differently, and the ratios have differed. On every row's server, in every rep, ours runs first,
then Go's, each with its own warmup (--generators picks one for a quick run).
The server is pinned to one core and the load generator to the other (taskset), every row is
measured --reps times interleaved (rep 1 of every row, then rep 2, ...) and the report gives
medians, per generator. For each row: QPS, p50, p99, server CPU %, calls per server CPU-second (server CPU time
from /proc/<pid>/stat over the load generator's lifetime) and server RSS at the end of the window.

Everything listens on 127.0.0.1, every load is bounded in time, and every process started here is
stopped in a finally block. Output: bench/results/<date>.md (+ .json with the raw samples).
Run with Debian's /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

SOURCE = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ALGS = ["ecdsa-p256-sha256", "ed25519", "sm2-sm3"]
ALG_NAMES = {"ecdsa-p256-sha256": "ECDSA", "ed25519": "Ed25519", "sm2-sm3": "SM2"}  # in report titles
# The signed rows, each with the mTLS row of its engine (its crypto limit's E_mtls) and algorithm.
SIGNED_ROWS = [(f"5{c}{engine}", f"3{engine}", alg) for engine in ("", "h") for c, alg in zip("abc", ALGS)]
ROLLDIE = "/api.DiceService/RollDie"
GENERATORS = {"ours": "nodegate bench (gRPC C++)", "go": "Go loadgen (grpc-go 1.33)"}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, timeout=600, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def cpu_ticks(pid: int) -> int:
    # utime + stime of the whole process (all threads): fields 14 and 15 of /proc/<pid>/stat.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def rss_at_connections(env: "Env", srv: "Server", target: str, count: int) -> dict:
    """Opens `count` mTLS connections (ALPN h2, the HTTP/2 preface and SETTINGS sent, so each is a
    live HTTP/2 session on the server), measures the server's RSS with all of them open, closes
    them. {"connections": opened, "rss_mb": …}."""
    import resource
    import ssl
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))
    ctx = ssl.create_default_context(cafile=str(env.pki / "ca.pem"))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(env.pki / "client.pem"), str(env.pki / "client-key.pem"))
    ctx.set_alpn_protocols(["h2"])
    host, port = target.rsplit(":", 1)
    socks = []
    try:
        for _ in range(count):
            raw = socket.create_connection((host, int(port)), timeout=10)
            tls = ctx.wrap_socket(raw, server_hostname="localhost")
            tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            socks.append(tls)
        time.sleep(1.0)
        return {"connections": len(socks), "rss_mb": srv.rss() / 2**20}
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


def children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(k) for k in kids]


# --------------------------------------------------------------------------------------------------
# Servers


class Server:
    """A process group (server, or nginx + backend) started pinned to the server core, or to the
    CPU list `cpus` (the two-core rows: "0,1")."""

    def __init__(self, name: str, workdir: Path, cpus: Optional[str] = None):
        self.name = name
        self.workdir = workdir
        self.cpus = cpus
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd, port: int, core: int, cwd: Optional[Path] = None, stdout=None) -> None:
        err = open(self.workdir / f"{self.name}.{len(self.procs)}.stderr", "ab")
        out = stdout if stdout is not None else subprocess.DEVNULL
        cpus = self.cpus or str(core)
        proc = subprocess.Popen(["taskset", "-c", cpus, *map(str, cmd)], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, cwd=cwd or self.workdir)
        self.procs.append(proc)
        wait_port(port, proc)

    def pids(self) -> list[int]:
        pids = []
        for p in self.procs:
            if p.poll() is None:
                pids.append(p.pid)
                pids.extend(children(p.pid))  # nginx workers
        return pids

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                total += cpu_ticks(pid)
            except OSError:
                pass
        return total / CLK_TCK

    def rss(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                total += rss_bytes(pid)
            except OSError:
                pass
        return total

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=15)


@dataclass
class Env:
    build: Path
    work: Path
    nodegate: Path
    pki: Path
    db: Path
    token: str
    sign_keys: dict
    go_server: Optional[Path]
    go_loadgen: Optional[Path]
    py_stubs: Optional[Path]
    nginx: Optional[str]
    server_core: int
    client_core: int
    compare: Optional[Path] = None
    # Rows *-pg: a private PostgreSQL (pinned to the client core) holding the same credentials.
    pg: Optional[object] = None  # nodegate_testlib.PostgresServer
    pg_url: str = ""
    pg_token: str = ""  # a token of the PostgreSQL store (tokens are random: not the SQLite one)
    generators: list = field(default_factory=lambda: ["ours"])


def node_toml(env: Env, path: Path, *, grpc_port: int, local_port: int = 0, client_auth="require",
              access_log="off", rule: Optional[str] = None, forwarded=False,
              postgres: bool = False, engine: str = "grpc") -> Path:
    lines = [
        "[node]", 'id = "bench-node"', f'data_dir = "{path.parent / "data"}"', "",
        "[grpc]", f'listen = "{HOST}:{grpc_port}"', 'shutdown_grace = "1s"', f'engine = "{engine}"',
        'reflection = false',
        # Rows 1 and 2 call a public RollDie without a client certificate: measured unthrottled
        # (the default 200/s per method is an edge guard, not what these rows measure).
        'anonymous_rate = 0',
    ]
    if local_port:
        lines.append(f'local_listen = "{HOST}:{local_port}"')
    lines += [
        "", "[tls]", f'cert = "{env.pki / "server.pem"}"', f'key = "{env.pki / "server-key.pem"}"',
        f'ca = "{env.pki / "ca.pem"}"', f'client_auth = "{client_auth}"', 'reload_interval = "1s"', "",
        *(["[store]", 'backend = "postgres"', f'url = "{env.pg_url}"', ""] if postgres else
          ["[store]", f'path = "{env.db}"', ""]),
        "[log]", 'level = "warn"', f'access_log = "{access_log}"', "",
        # Signed rows run ~10k calls/s for many seconds: the default cache (100000 nonces over a
        # 60 s skew) would refuse them (fail closed) after ~10 s. Sized for the load instead.
        "[auth.signature]", 'max_skew = "30s"', "replay_cache_capacity = 4000000", "",
    ]
    if forwarded:
        lines += ["[auth.forwarded]", "enabled = true", "trust_local = true", ""]
    if rule == "public":
        lines += ["[[auth.rule]]", f'method = "{ROLLDIE}"', "public = true", ""]
    elif rule:
        lines += ["[[auth.rule]]", f'method = "{ROLLDIE}"', f'authenticators = ["{rule}"]', ""]
    path.write_text("\n".join(lines))
    return path


def mtls_args(env: Env) -> list:
    return ["--ca", env.pki / "ca.pem", "--cert", env.pki / "client.pem", "--key",
            env.pki / "client-key.pem", "--server-name", "localhost"]


@dataclass
class Row:
    key: str
    title: str
    start: Callable[[Env, Server], tuple[str, list]]  # -> (target, extra bench args)
    note: str = ""
    concurrency: Optional[int] = None  # instead of --concurrency / --connections
    connections: Optional[int] = None
    # 2: the server may run on both cores (one event loop / completion queue per allowed CPU), and
    # shares the second with the load generator: this machine has two.
    server_cores: int = 1
    # A signed row: the server's verify rate for `alg` is measured right before and after each
    # generator's run (see verify_rate), so that its crypto limit is not skewed by this VM's drift.
    alg: Optional[str] = None


def nodegate_row(key, title, *, transport="mtls", rule=None, access_log=False, bench_extra=None,
                 binary: Optional[Path] = None, postgres: bool = False, engine: str = "grpc"):
    def start(env: Env, srv: Server):
        port, local = free_port(), free_port()
        client_auth = {"plaintext": "request", "tls": "none", "mtls": "require"}[transport]
        log_dest = str(env.work / f"access-{key}.log") if access_log else "off"
        cfg = node_toml(env, env.work / f"node-{key}.toml", grpc_port=port,
                        local_port=local if transport == "plaintext" else 0,
                        client_auth=client_auth, access_log=log_dest, rule=rule,
                        postgres=postgres, engine=engine)
        srv.start([binary or env.nodegate, "serve", "--config", cfg], port, env.server_core)
        if transport == "plaintext":
            wait_port(local, srv.procs[0])
            return f"{HOST}:{local}", ["--plaintext"]
        args = mtls_args(env) if transport == "mtls" else ["--ca", env.pki / "ca.pem", "--server-name", "localhost"]
        return f"{HOST}:{port}", args + (bench_extra(env) if bench_extra else [])
    return start


def nginx_start(env: Env, srv: Server):
    port, local, nginx_port = free_port(), free_port(), free_port()
    cfg = node_toml(env, env.work / "node-nginx.toml", grpc_port=port, local_port=local,
                    client_auth="require", forwarded=True)
    srv.start([env.nodegate, "serve", "--config", cfg], port, env.server_core)
    wait_port(local, srv.procs[0])
    prefix = env.work / "nginx"
    shutil.rmtree(prefix, ignore_errors=True)
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    run([env.nodegate, "deploy", "nginx", "--config", cfg, "--listen", f"{HOST}:{nginx_port}",
         "--backend", "h2c", "--standalone", "--prefix", prefix, "-o", conf])
    srv.start([env.nginx, "-c", conf, "-p", prefix], nginx_port, env.server_core)
    return f"{HOST}:{nginx_port}", mtls_args(env)


def go_start(env: Env, srv: Server):
    port = free_port()
    srv.start([env.go_server, "-listen", f"{HOST}:{port}", "-cert", env.pki / "server.pem",
               "-key", env.pki / "server-key.pem", "-ca", env.pki / "ca.pem",
               "-log", env.work / "go-server.log"], port, env.server_core)
    return f"{HOST}:{port}", mtls_args(env)


def python_start(env: Env, srv: Server):
    port = free_port()
    srv.start(["/usr/bin/python3", SOURCE / "bench" / "python" / "seed_server.py", "--listen",
               f"{HOST}:{port}", "--cert", env.pki / "server.pem", "--key", env.pki / "server-key.pem",
               "--ca", env.pki / "ca.pem", "--token", env.token, "--stubs", env.py_stubs],
              port, env.server_core)
    return f"{HOST}:{port}", mtls_args(env) + ["--token", env.token]


def sign_extra(alg):
    return lambda env: ["--sign-key", env.sign_keys[alg], "--node-id", f"bench-{alg}",
                        "--audience", "bench-node"]


def rows(env: Env, only: Optional[set]) -> list[Row]:
    r = [
        Row("1", "nodegate plaintext h2c (local_listen), RollDie public", nodegate_row("1", "", transport="plaintext", rule="public")),
        Row("2", "nodegate TLS (no client cert), RollDie public", nodegate_row("2", "", transport="tls", rule="public")),
        Row("3", "nodegate mTLS (mtls authenticator), access log off", nodegate_row("3", "", transport="mtls")),
        Row("4", "nodegate mTLS + token", nodegate_row("4", "", rule="token", bench_extra=lambda e: ["--token", e.token])),
    ]
    for i, alg in enumerate(ALGS):
        k = f"5{'abc'[i]}"
        r.append(Row(k, f"nodegate mTLS + signature {alg}", nodegate_row(k, "", rule="signature", bench_extra=sign_extra(alg)),
                     alg=alg))
    if env.pg_url:
        # Fleet replicas: the same rows on the PostgreSQL store. Signed calls write every accepted
        # nonce to the shared ledger (docs/auth.md, "Replays across replicas"); Ed25519 verifies
        # fastest, so the ledger's share of each call is largest there: the worst case.
        pg_note = ("PostgreSQL pinned to the load generator's core; eff counts the replica's CPU only, "
                   "the database's is in the fleet section below")
        r.append(Row("4-pg", "nodegate mTLS + token, fleet store (PostgreSQL)",
                     nodegate_row("4-pg", "", rule="token", bench_extra=lambda e: ["--token", e.pg_token],
                                  postgres=True), note=pg_note))
        for alg, k in (("ecdsa-p256-sha256", "5a-pg"), ("ed25519", "5b-pg")):
            r.append(Row(k, f"nodegate mTLS + signature {alg}, fleet store (PostgreSQL)",
                         nodegate_row(k, "", rule="signature", bench_extra=sign_extra(alg),
                                      postgres=True), note=pg_note))
        r.append(Row("6-pg", "nodegate mTLS + access log on (file), fleet store (PostgreSQL)",
                     nodegate_row("6-pg", "", access_log=True, postgres=True), note=pg_note))
        r.append(Row("5b-1", "nodegate mTLS + signature ed25519, SQLite, 1 call in flight",
                     nodegate_row("5b-1", "", rule="signature", bench_extra=sign_extra("ed25519")),
                     concurrency=1, connections=1))
        r.append(Row("5b-pg-1", "nodegate mTLS + signature ed25519, fleet store (PostgreSQL), 1 call in flight",
                     nodegate_row("5b-pg-1", "", rule="signature", bench_extra=sign_extra("ed25519"),
                                  postgres=True), note=pg_note, concurrency=1, connections=1))
    r.append(Row("6", "nodegate mTLS + access log on (file)", nodegate_row("6", "", access_log=True)))
    # The same rows on engine h2 (rpc/h2_engine.h: nghttp2 + OpenSSL, our gRPC framing), "<row>h".
    h2 = "engine h2: "
    r += [
        Row("1h", h2 + "plaintext h2c (local_listen), RollDie public",
            nodegate_row("1h", "", transport="plaintext", rule="public", engine="h2")),
        Row("3h", h2 + "mTLS (mtls authenticator), access log off",
            nodegate_row("3h", "", transport="mtls", engine="h2")),
        Row("4h", h2 + "mTLS + token",
            nodegate_row("4h", "", rule="token", bench_extra=lambda e: ["--token", e.token], engine="h2")),
    ]
    for i, alg in enumerate(ALGS):
        k = f"5{'abc'[i]}h"
        r.append(Row(k, f"{h2}mTLS + signature {alg}",
                     nodegate_row(k, "", rule="signature", bench_extra=sign_extra(alg), engine="h2"),
                     alg=alg))
    r.append(Row("6h", h2 + "mTLS + access log on (file)",
                 nodegate_row("6h", "", access_log=True, engine="h2")))
    if env.nginx:
        r.append(Row("7", "nginx (mTLS, forwarded cert) → nodegate h2c local_listen", nginx_start,
                     note="nginx worker + nodegate both pinned to the server core; CPU is their sum"))
    if env.go_server:
        r.append(Row("8", "seed-001 style Go server (mTLS, logging interceptor)", go_start))
    # Rows 3, 3h and 8 with the server on both cores ("-2c"); the load generator stays on the second.
    two = "; server on both cores, the load generator sharing the second"
    r.append(Row("3-2c", "nodegate mTLS, access log off" + two, nodegate_row("3-2c", "", transport="mtls"),
                 server_cores=2))
    r.append(Row("3h-2c", h2 + "mTLS, access log off" + two,
                 nodegate_row("3h-2c", "", transport="mtls", engine="h2"), server_cores=2))
    if env.go_server:
        r.append(Row("8-2c", "seed-001 style Go server" + two, go_start, server_cores=2))
    if env.compare:
        # Another nodegate build's server (e.g. the previous server core), same load, same run.
        r.append(Row("3p", f"{env.compare.name} (compare build): mTLS, access log off",
                     nodegate_row("3p", "", transport="mtls", binary=env.compare)))
        r.append(Row("6p", f"{env.compare.name} (compare build): mTLS + access log on",
                     nodegate_row("6p", "", access_log=True, binary=env.compare)))
    if env.py_stubs:
        r.append(Row("9", "seed-000 style Python asyncio (mTLS, token interceptor)", python_start))
    return [x for x in r if not only or x.key in only or x.key[0] in only]


# --------------------------------------------------------------------------------------------------
# Measuring


# The rows speak `nodegate bench`'s flags; the Go load generator takes the same ones, spelled the Go way.
GO_FLAGS = {"--ca": "-ca", "--cert": "-cert", "--key": "-key", "--server-name": "-server-name",
            "--sign-key": "-sign-key", "--node-id": "-node-id", "--audience": "-audience"}


def go_args(args: list) -> list:
    out, it = [], iter(args)
    for flag in it:
        if flag == "--plaintext":
            out.append("-plaintext")
        elif flag == "--token":
            out += ["-H", f"authorization=Bearer {next(it)}"]  # nodegate bench's default token header
        elif flag in GO_FLAGS:
            out += [GO_FLAGS[flag], next(it)]
        else:
            raise ValueError(f"Go load generator: no equivalent of nodegate bench's {flag}")
    return out


def bench(env: Env, target: str, args: list, seconds: float, concurrency: int, connections: int,
          extra: Optional[list] = None, gen: str = "ours") -> dict:
    if gen == "go":
        if extra:
            raise ValueError(f"Go load generator: no equivalent of {extra}")
        cmd = ["taskset", "-c", str(env.client_core), env.go_loadgen, "-target", target,
               "-method", ROLLDIE, "-duration", f"{seconds}s", "-concurrency", str(concurrency),
               "-connections", str(connections), *go_args(args)]
    else:
        cmd = ["taskset", "-c", str(env.client_core), env.nodegate, "bench", "--target", target,
               "--method", ROLLDIE, "--duration", f"{seconds}s", "--concurrency", str(concurrency),
               "--connections", str(connections), "--json", *args, *(extra or [])]
    out = run(cmd, timeout=seconds + 60).stdout
    return json.loads(out.strip().splitlines()[-1])


def pg_cpu_seconds(env: Env) -> float:
    """CPU time of the PostgreSQL server: the postmaster and every backend and helper."""
    if env.pg is None or env.pg.proc is None:
        return 0.0
    total = 0
    for pid in [env.pg.proc.pid, *children(env.pg.proc.pid)]:
        try:
            total += cpu_ticks(pid)
        except OSError:
            pass
    return total / CLK_TCK


def measure(env: Env, srv: Server, target: str, args: list, a, concurrency: Optional[int] = None,
            connections: Optional[int] = None, gen: str = "ours") -> dict:
    concurrency = concurrency or a.concurrency
    connections = connections or a.connections
    bench(env, target, args, a.warmup, concurrency, connections, gen=gen)  # warmup: connections, caches
    cpu0, t0, pg0 = srv.cpu_seconds(), time.monotonic(), pg_cpu_seconds(env)
    res = bench(env, target, args, a.duration, concurrency, connections, gen=gen)
    cpu1, t1, pg1 = srv.cpu_seconds(), time.monotonic(), pg_cpu_seconds(env)
    cpu = cpu1 - cpu0
    return {
        "generator": gen, "pg_cpu_s": pg1 - pg0, "concurrency": concurrency,
        "qps": res["qps"], "ok": res["ok"], "errors": res["errors"],
        "errors_by_code": res["errors_by_code"], "p50": res["latency_ms"]["p50"],
        "p99": res["latency_ms"]["p99"], "p99_9": res["latency_ms"]["p99_9"],
        "cpu_s": cpu, "cpu_pct": 100.0 * cpu / (t1 - t0),
        "eff": res["ok"] / cpu if cpu > 0 else 0.0, "rss_mb": srv.rss() / 2**20,
    }


def why_failed(exc: Exception) -> str:
    """The line that says why: the load generator's own message, else the first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("loadgen:") or "bench:" in line:
            return line
    return lines[-1] if lines else type(exc).__name__


def verify_rate(env: Env, alg: str) -> float:
    """One algorithm's single-core verify/s, measured now on the server core (about half a second).

    This VM's speed drifts by tens of percent within minutes (BM_Verify for SM2 read 270 µs, then
    457 µs, then 304 µs over ten minutes), so a signed row's crypto limit takes the verify rate
    measured right around that row's run, not at the start of the repetition."""
    def once(pattern: str, min_time: str) -> list:
        out = run(["taskset", "-c", str(env.server_core), env.work / "crypto_benchmark",
                   f"--benchmark_filter=BM_Verify/{pattern}$", "--benchmark_format=json",
                   f"--benchmark_min_time={min_time}"], timeout=120).stdout
        return json.loads(out)["benchmarks"]
    if alg not in VERIFY_INDEX:  # BM_Verify's argument numbers the algorithms; its label names them
        for b in once("[0-9]+", "0.01"):
            VERIFY_INDEX[b["label"]] = b["name"].split("/")[1]
    b = once(VERIFY_INDEX[alg], "0.3")[0]
    return 1e9 / (b["cpu_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]])


VERIFY_INDEX: dict[str, str] = {}


# --------------------------------------------------------------------------------------------------
# Setup


def build(build_dir: Path) -> None:
    if not (build_dir / "build.ninja").exists():
        run(["cmake", "-S", SOURCE, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], timeout=300)
    log("building nodegate and crypto_benchmark")
    run(["cmake", "--build", build_dir, "--target", "nodegate", "crypto_benchmark"], timeout=3600)


def build_go(work: Path, programs: list[str]) -> dict:
    """Builds bench/go's programs (seedserver: row 8; loadgen: the second load generator) offline in
    GOPATH mode (Debian's grpc-go 1.33). {name: path}; {} with a log line when Go is missing."""
    if not programs:
        return {}
    if not shutil.which("go") or not shutil.which("protoc-gen-go"):
        log("go or protoc-gen-go missing: row 8 and the Go load generator skipped "
            "(scripts/install-deps installs them)")
        return {}
    gopath = work / "gopath"
    (gopath / "src").mkdir(parents=True, exist_ok=True)
    run(["protoc", f"-I{SOURCE / 'proto'}", f"--go_out=plugins=grpc:{gopath / 'src'}", SOURCE / "proto/api/dice.proto"])
    env = dict(os.environ, GOPATH=f"{gopath}:{SOURCE / 'bench' / 'go'}:/usr/share/gocode", GO111MODULE="off",
               GOCACHE=str(work / "gocache"), GOFLAGS="")
    built = {}
    for name in programs:
        built[name] = work / name
        run(["go", "build", "-o", built[name], name], env=env, timeout=600)
    return built


def python_stubs(work: Path) -> Optional[Path]:
    out = work / "pystubs"
    out.mkdir(exist_ok=True)
    run(["protoc", f"-I{SOURCE / 'proto' / 'api'}", f"--python_out={out}", f"--grpc_python_out={out}",
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", SOURCE / "proto/api/dice.proto"])
    return out


def setup(a) -> Env:
    build_dir = Path(a.build_dir).resolve()
    if not a.no_build:
        build(build_dir)
    work = build_dir / "bench-suite" / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    # A private copy: others may rebuild build/nodegate while the suite runs.
    nodegate = work / "nodegate"
    shutil.copy2(build_dir / "nodegate", nodegate)
    shutil.copy2(build_dir / "bench" / "crypto_benchmark", work / "crypto_benchmark")
    run([nodegate, "init", "--dir", work / "dev"])
    pki = work / "dev" / "pki"
    db = work / "bench.db"
    sign_keys = {}
    for alg in ALGS:
        kdir = work / f"keys-{alg}"
        run([nodegate, "keys", "gen", "--alg", alg, "--out", kdir])
        run([nodegate, "node", "add", "--db", db, "--id", f"bench-{alg}", "--alg", alg,
             "--public-key", kdir / "signing-pub.pem"])
        sign_keys[alg] = kdir / "signing-key.pem"
    token = run([nodegate, "token", "create", "--db", db, "--principal", "bench-user"]).stdout.strip().splitlines()[-1]
    generators = list(a.generator_list)
    go = build_go(work, [*([] if a.no_go else ["seedserver"]), *(["loadgen"] if "go" in generators else [])])
    if "go" in generators and "loadgen" not in go:
        generators.remove("go")
        if not generators:
            raise SystemExit("bench: --generators go, and the Go load generator could not be built")
    pg, pg_url, pg_token = (None, "", "") if a.no_postgres else start_postgres(nodegate, work, sign_keys)
    nginx = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx") or None
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        raise SystemExit("bench: needs two cores (server on one, load generator on the other)")
    srv_core, cli_core = sorted(cores)[:2]
    if pg is not None:  # the database runs where the load generator does, off the server's core
        for pid in [pg.proc.pid, *children(pg.proc.pid)]:
            os.sched_setaffinity(pid, {cli_core})
    return Env(build_dir, work, nodegate, pki, db, token, sign_keys, go.get("seedserver"),
               go.get("loadgen"), python_stubs(work), nginx, srv_core, cli_core,
               Path(a.compare_binary).resolve() if a.compare_binary else None, pg, pg_url, pg_token,
               generators)


def start_postgres(nodegate: Path, work: Path, sign_keys: dict) -> tuple:
    """A private PostgreSQL (tests/nodegate_testlib.py, with fsync on) holding the signing nodes and
    a token: (server, url, token), or (None, "", "") with a log line when it is not installed."""
    sys.path.insert(0, str(SOURCE / "tests"))
    import nodegate_testlib  # noqa: PLC0415 - the suite runs without it when PostgreSQL is absent
    why = nodegate_testlib.PostgresServer.unavailable()
    if why:
        log(f"rows *-pg skipped: {why}")
        return None, "", ""
    pg = nodegate_testlib.PostgresServer(durable=True).start()
    url = pg.new_database("bench")
    cfg = work / "pg-admin.toml"
    pki = work / "dev" / "pki"
    cfg.write_text(f'[node]\nid = "bench-node"\ndata_dir = "{work / "data"}"\n\n'
                   f'[tls]\ncert = "{pki / "server.pem"}"\nkey = "{pki / "server-key.pem"}"\n'
                   f'ca = "{pki / "ca.pem"}"\n\n'
                   f'[store]\nbackend = "postgres"\nurl = "{url}"\n')
    for alg in ALGS:
        run([nodegate, "node", "add", "--config", cfg, "--id", f"bench-{alg}", "--alg", alg,
             "--public-key", sign_keys[alg].parent / "signing-pub.pem"])
    token = run([nodegate, "token", "create", "--config", cfg, "--principal", "bench-user"]
                ).stdout.strip().splitlines()[-1]
    return pg, url, token


# --------------------------------------------------------------------------------------------------
# Report


def med(samples: list[dict], key: str) -> float:
    vals = [s[key] for s in samples if key in s]
    return statistics.median(vals) if vals else float("nan")


def eff_by_rep(res: dict, row: str) -> dict:
    """{repetition: eff} of one row's samples (those with a repetition and a non-zero eff)."""
    return {s["rep"]: s["eff"] for s in res.get(row, []) if "rep" in s and s["eff"]}


def paired_ratios(res: dict, num: str, den: str) -> list:
    """eff of row num over row den, repetition by repetition: the two rows of one repetition run
    seconds apart, so this VM's drift, which moves a row's median by ±25 % across a run, cancels."""
    den_by_rep = eff_by_rep(res, den)
    return [s["eff"] / den_by_rep[s["rep"]] for s in res.get(num, []) if s.get("rep") in den_by_rep]


def against_limit(res: dict, k: str, mtls: str) -> Optional[dict]:
    """Signed row k against its crypto limit, rep by rep: the mTLS row's eff from the same
    repetition and the verify rate measured around the row's own run; medians over repetitions."""
    e_by_rep = eff_by_rep(res, mtls)
    ratios, beyond, mtls_us, vs = [], [], [], []
    for s in res.get(k, []):
        e, v = e_by_rep.get(s.get("rep")), s.get("verify_rate")
        if e is None or not v or not s["eff"]:
            continue
        ratios.append(s["eff"] / (1 / (1 / e + 1 / v)))
        beyond.append((1 / s["eff"] - 1 / v) * 1e6)
        mtls_us.append(1e6 / e)
        vs.append(v)
    if not ratios:
        return None
    return {"ratio": statistics.median(ratios), "ratios": ratios, "v": statistics.median(vs),
            "beyond_us": statistics.median(beyond), "mtls_us": statistics.median(mtls_us)}


def issue16_goals(gens: list, results: dict) -> list:
    """Issue 16's goals for engine h2, each the median of per-repetition ratios (both rows of a
    ratio measured in the same repetition, seconds apart), with the range over repetitions."""
    goals = [("mTLS (3h) ≥ 1.25× the Go server (8)", 1.25, lambda r: paired_ratios(r, "3h", "8")),
             ("mTLS + token (4h) ≥ 1.25× the Go server (8)", 1.25, lambda r: paired_ratios(r, "4h", "8")),
             ("token ≥ 0.90× bare mTLS (4h / 3h)", 0.90, lambda r: paired_ratios(r, "4h", "3h"))]
    for k, m, alg in SIGNED_ROWS:
        if m == "3h":  # the issue's goals are engine h2's
            goals.append((f"{ALG_NAMES[alg]} ({k}) ≥ 0.90 of the crypto limit", 0.90,
                          lambda r, k=k, m=m: (against_limit(r, k, m) or {}).get("ratios", [])))
    rows = []
    for title, goal, ratios_of in goals:
        cells = []
        for g in gens:
            ratios = ratios_of(results[g])
            if not ratios:
                cells.append("–")
                continue
            m = statistics.median(ratios)
            cell = f"{m:.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
            cells.append(f"**{cell}**" if m >= goal else cell)
        if any(c != "–" for c in cells):
            rows.append(f"| {title} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["", "## Issue 16's goals, paired by repetition", "",
            "Each figure is the median over repetitions of a ratio whose two rows ran in the same "
            "repetition (range over repetitions in brackets); bold = goal met.", "",
            "| goal | " + " | ".join(gens) + " |", "|---|" + "---:|" * len(gens), *rows]


def fmt_ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b and b == b and a == a else "–"


def report(env: Env, a, results: dict, titles: dict, notes: dict, extras: dict, started: str,
           load_before: str, load_after: str) -> str:
    """results: {generator: {row: [samples]}}. Every ratio is computed within one generator."""
    gens = [g for g in env.generators if results.get(g)]
    effs = {g: {k: med(v, "eff") for k, v in results[g].items()} for g in gens}
    lines = [
        f"# nodegate benchmark run {started}",
        "",
        f"Machine: {os.cpu_count()} cores, `uptime` before: `{load_before}`; after: `{load_after}`.",
        f"Server pinned to core {env.server_core}, the load generator to core {env.client_core}. "
        f"Unary {ROLLDIE}, {a.concurrency} calls in flight over {a.connections} connections, "
        f"{a.warmup:g} s warmup then {a.duration:g} s measured, {a.reps} interleaved repetitions, medians shown. "
        "Other work shared this box during the run: compare ratios within this run, not absolute figures across runs.",
        "",
        "Load generators: " + "; ".join(f"**{g}** = {GENERATORS[g]}" for g in gens) + ". "
        + ("On each row's server, in each rep, ours ran first and then Go's, each with its own warmup. "
           "A figure holds only if it holds with both." if len(gens) > 1 else
           "Only one generator measured rows in this run (--generators, or see 'not measured' below): "
           "its figures are not a result on their own."),
        "",
        "eff = calls per server CPU-second (OK calls / server CPU time over the measured run).",
    ]
    if len(gens) > 1:
        lines += side_by_side(gens, results, effs, titles)
    for g in gens:
        lines += generator_section(g, results[g], effs[g], titles)
    for k, n in notes.items():
        lines.append(f"\nRow {k}: {n}")
    if "nginx_skipped" in extras and not any("7" in results[g] for g in gens):
        lines.append(f"\nRow 7 (nginx) skipped: {extras['nginx_skipped']}")
    for g in env.generators:
        for k, why in extras.get("not_measured", {}).get(g, {}).items():
            lines.append(f"\nRow {k} not measured with {g}: {why}")

    limit_rows = [(g, k, m, alg) for g in gens for k, m, alg in SIGNED_ROWS
                  if k in results[g] and m in results[g]]
    if limit_rows:
        lines += ["", "## Signature rows against the crypto limit", "",
                  "limit = 1 / (1/E_mtls + 1/V_alg): E_mtls = the eff of that engine's mTLS row (3 or 3h) "
                  "with the same generator in the same repetition; V_alg = single-core verify/s (Google "
                  "Benchmark BM_Verify on the server core) measured right before and after that generator's "
                  "run of the row. Ratio = median over repetitions of eff / limit. Beyond the verify = "
                  "1/eff − 1/V_alg, the server's CPU per signed call outside the signature check, next to "
                  "the mTLS row's whole cost per call (1/E_mtls).", "",
                  "| generator | row | alg | V_alg verify/s | measured eff | measured / limit | per rep | "
                  "µs per call beyond the verify | µs per mTLS call |",
                  "|---|---|---|---:|---:|---:|---|---:|---:|"]
        for g, k, m, alg in limit_rows:
            lim = against_limit(results[g], k, m)
            if lim is None:
                continue
            lines.append(f"| {g} | {k} | {alg} | {lim['v']:,.0f} | {effs[g][k]:,.0f} | {lim['ratio']:.2f} | "
                         f"{', '.join(f'{r:.2f}' for r in lim['ratios'])} | {lim['beyond_us']:.1f} | "
                         f"{lim['mtls_us']:.1f} |")

    if any(k.endswith("-pg") for g in gens for k in results[g]):
        lines += ["", "## Fleet store (PostgreSQL) against the embedded SQLite store", "",
                  "Each row's configuration on both stores, same run. PostgreSQL runs with fsync on, pinned "
                  "to the load generator's core. eff = OK calls per replica CPU-second; eff incl. DB adds "
                  "the database's CPU time over the same window (the fleet's cost per call). Goal for "
                  "signed calls: replica eff ≥ 0.70× of SQLite's.", "",
                  "| generator | row | SQLite eff | fleet eff | ratio | fleet eff incl. DB | ratio incl. DB | "
                  "DB µs/call | p50 ms SQLite / fleet | p99 ms SQLite / fleet |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for g in gens:
            eff, res = effs[g], results[g]
            for fleet in [k for k in res if k.endswith("-pg") and k[:-3] in res]:
                lite = fleet[:-3]
                with_db = statistics.median(s["ok"] / (s["cpu_s"] + s["pg_cpu_s"]) for s in res[fleet]
                                            if s["cpu_s"] + s["pg_cpu_s"] > 0)
                db_us = statistics.median(s["pg_cpu_s"] / s["ok"] * 1e6 for s in res[fleet] if s["ok"])
                lines.append(
                    f"| {g} | {lite} → {fleet} | {eff[lite]:,.0f} | {eff[fleet]:,.0f} | "
                    f"{eff[fleet] / eff[lite]:.2f}× | {with_db:,.0f} | {with_db / eff[lite]:.2f}× | {db_us:.1f} | "
                    f"{med(res[lite], 'p50'):.2f} / {med(res[fleet], 'p50'):.2f} | "
                    f"{med(res[lite], 'p99'):.2f} / {med(res[fleet], 'p99'):.2f} |")
        for g in gens:
            res = results[g]
            if "5b-1" in res and "5b-pg-1" in res:
                lite, shared = med(res["5b-1"], "p50"), med(res["5b-pg-1"], "p50")
                lines.append(f"\n{g}: one signed call in flight (rows 5b-1, 5b-pg-1): p50 {lite:.2f} ms on "
                             f"SQLite, {shared:.2f} ms with the fleet store: **{shared - lite:+.2f} ms** added "
                             "(goal ≤ 2 ms), one nonce batch commit per call.")
    layer = []
    for g in gens:
        eff = effs[g]
        if "3" in eff and "4" in eff:
            layer.append(f"- {g}: token over mTLS: {eff['4'] / eff['3']:.2f}× of mTLS alone; the token layer "
                         f"costs {(1 / eff['4'] - 1 / eff['3']) * 1e6:.2f} µs of server CPU per call end to end "
                         "(gRPC metadata handling + the hook's token check).")
        if "3" in eff and "6" in eff:
            layer.append(f"- {g}: access log on: {eff['6'] / eff['3']:.2f}× of row 3 (log off); "
                         f"{(1 / eff['6'] - 1 / eff['3']) * 1e6:.2f} µs of server CPU per call.")
    if layer:
        lines += ["", "## Layer costs", "", *layer]
    h2_rows = [k for k in ("1", "3", "4", "5a", "5b", "5c", "6")
               if any(k in effs[g] and k + "h" in effs[g] for g in gens)]
    if h2_rows:
        lines += ["", "## Engine h2 against engine grpc (same run, same generator)", "",
                  "eff = calls per server CPU-second. vs Go = against row 8 (the seed-style Go server); "
                  "token = row 4 over row 3 on the same engine; limit = 1 / (1/E_mtls + 1/V_alg) with "
                  "that engine's row 3.", "",
                  "| generator | row | engine grpc eff | engine h2 eff | h2 / grpc | grpc vs Go | h2 vs Go |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for g in gens:
            eff = effs[g]
            go = eff.get("8")
            for k in h2_rows:
                if k in eff and k + "h" in eff:
                    vs = (lambda e: f"{e / go:.2f}×" if go else "–")
                    lines.append(f"| {g} | {k} / {k}h | {eff[k]:,.0f} | {eff[k + 'h']:,.0f} | "
                                 f"{eff[k + 'h'] / eff[k]:.2f}× | {vs(eff[k])} | {vs(eff[k + 'h'])} |")
        for g in gens:
            eff = effs[g]
            for engine, (m, t) in (("grpc", ("3", "4")), ("h2", ("3h", "4h"))):
                if m in eff and t in eff:
                    per_rep = paired_ratios(results[g], t, m)
                    paired = (f"; paired by repetition {statistics.median(per_rep):.2f}× (per rep "
                              f"{', '.join(f'{r:.2f}' for r in per_rep)})") if per_rep else ""
                    lines.append(f"\n{g}, engine {engine}: token / mTLS = {eff[t] / eff[m]:.2f}× "
                                 f"({(1 / eff[t] - 1 / eff[m]) * 1e6:.2f} µs per call){paired}")
    lines += issue16_goals(gens, results)
    lines += two_cores(gens, results, effs)
    lat = extras.get("half_load", [])
    if lat:
        lines += ["", "## Latency at 50 % of the saturating load (rows 6 and 6h, --rate = ½ × that row's QPS)", "",
                  "nodegate bench only (the Go load generator has no open-loop mode). "
                  "Latency counts from each call's due time; start lag = how late the generator started calls "
                  "(its own precision); owed = calls that found all slots busy and started late.", "",
                  "| row | rate | achieved QPS | p50 ms | p99 ms | p99.9 ms | start lag p99 ms | owed |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for l in lat:
            lines.append(f"| {l.get('row', '6')} | {l['rate']:,.0f} | {l['qps']:,.0f} | {l['p50']:.2f} | {l['p99']:.2f} | "
                         f"{l['p99_9']:.2f} | {l.get('lag_p99', float('nan')):.3f} | {l.get('owed', 0):,} |")
    idle = extras.get("idle_rss_mb", [])
    if idle:
        lines.append(f"\nIdle daemon RSS (row 3 config, before load): median {statistics.median(idle):.1f} MB.")
    idle_h2 = extras.get("idle_rss_mb_h2", [])
    if idle_h2:
        lines.append(f"Idle daemon RSS, engine h2 (row 3h config, before load): median "
                     f"{statistics.median(idle_h2):.1f} MB.")
    for k, r in sorted(extras.get("rss_2000", {}).items()):
        lines.append(f"RSS with {r['connections']:,} idle mTLS HTTP/2 connections open, row {k}: "
                     f"{r['rss_mb']:.1f} MB.")
    cold = extras.get("cold", {})
    if cold:
        lines += ["", "## Cold costs (rows 3, 3h and 8, a new connection per call, 8 in flight; nodegate bench only)", "",
                  "Go's crypto/tls issues TLS 1.3 session tickets by default, so row 8 resumes too.", "",
                  "| mode | handshakes (calls)/s | server CPU % | handshakes per server CPU-s | resumed |", "|---|---:|---:|---:|---:|"]
        for mode, samples in cold.items():
            lines.append(f"| {mode} | {med(samples, 'qps'):,.0f} | {med(samples, 'cpu_pct'):.0f} | "
                         f"{med(samples, 'eff'):,.0f} | {med(samples, 'resumed'):,.0f} |")
    return "\n".join(lines) + "\n"


def two_cores(gens: list, results: dict, effs: dict) -> list:
    """Rows 3, 3h and 8 on one server core against the same servers on both ("-2c")."""
    pairs = [(k, k + "-2c") for k in ("3", "3h", "8") if any(k + "-2c" in effs[g] for g in gens)]
    if not pairs:
        return []
    lines = ["", "## One server core against two (rows 3, 3h, 8 and their -2c rows)", "",
             "In the -2c rows the server may run on both cores (engine grpc: a completion queue per CPU; "
             "engine h2: an event loop per CPU; Go: GOMAXPROCS = 2) and the load generator, still pinned to "
             "the second core, shares it with the server: this machine has two cores. So QPS at 2 cores is "
             "what one shared core of load can drive, not the server's ceiling; eff (calls per server "
             "CPU-second) says whether spreading the connections over two loops costs efficiency.", "",
             "| generator | server | QPS 1 core | QPS 2 cores | server CPU % 1 / 2 | eff 1 core | eff 2 cores | "
             "eff 2 / 1 | eff 2 cores vs Go 2 cores |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for g in gens:
        eff, res, go2 = effs[g], results[g], effs[g].get("8-2c")
        for one, two in pairs:
            if one not in eff or two not in eff:
                continue
            lines.append(f"| {g} | row {one} / {two} | {med(res[one], 'qps'):,.0f} | {med(res[two], 'qps'):,.0f} | "
                         f"{med(res[one], 'cpu_pct'):.0f} / {med(res[two], 'cpu_pct'):.0f} | {eff[one]:,.0f} | "
                         f"{eff[two]:,.0f} | {eff[two] / eff[one]:.2f}× | {fmt_ratio(eff[two], go2)} |")
    return lines


def side_by_side(gens: list, results: dict, effs: dict, titles: dict) -> list:
    """One line per row: QPS, eff and the row-1 / Go-server ratios of every generator next to each other."""
    head = ["row", "server"]
    for what in ("QPS", "eff", "vs row 1", "vs Go (8)"):
        head += [f"{what} {g}" for g in gens]
    head.append("eff " + "/".join(reversed(gens)))
    lines = ["", "## Both generators side by side", "",
             "| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for k in titles:
        if not any(k in results[g] for g in gens):
            continue
        cells = [k, titles[k]]
        cells += [f"{med(results[g][k], 'qps'):,.0f}" if k in results[g] else "–" for g in gens]
        cells += [f"{effs[g][k]:,.0f}" if k in effs[g] else "–" for g in gens]
        cells += [fmt_ratio(effs[g].get(k, float("nan")), effs[g].get("1")) for g in gens]
        cells += [fmt_ratio(effs[g].get(k, float("nan")), effs[g].get("8")) for g in gens]
        cells.append(fmt_ratio(effs[gens[-1]].get(k, float("nan")), effs[gens[0]].get(k)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def generator_section(g: str, results: dict, eff: dict, titles: dict) -> list:
    base, go, py = eff.get("1"), eff.get("8"), eff.get("9")
    lines = [
        "", f"## Load generator: {g} ({GENERATORS[g]})", "",
        "| row | server | QPS | p50 ms | p99 ms | server CPU % | eff (calls/CPU-s) | vs row 1 | vs Go (8) | vs Python (9) | RSS MB | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, samples in results.items():
        errs = sum(s["errors"] for s in samples)
        lines.append(
            f"| {k} | {titles[k]} | {med(samples, 'qps'):,.0f} | {med(samples, 'p50'):.2f} | "
            f"{med(samples, 'p99'):.2f} | {med(samples, 'cpu_pct'):.0f} | {eff[k]:,.0f} | "
            f"{fmt_ratio(eff[k], base)} | {fmt_ratio(eff[k], go)} | {fmt_ratio(eff[k], py)} | "
            f"{med(samples, 'rss_mb'):.0f} | {errs} |")
    lines.append(f"\nPer-repetition eff with {g} (calls per server CPU-second):\n")
    for k, samples in results.items():
        lines.append(f"- row {k}: " + ", ".join(f"{s['eff']:,.0f}" for s in samples))
    return lines


# --------------------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=str(SOURCE / "build"))
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds per row and rep")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=128)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--rows", default="", help="comma-separated row keys (default: all)")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--no-go", action="store_true", help="skip row 8 (the Go server)")
    p.add_argument("--generators", default="ours,go",
                   help="load generators, run in this order on each row's server: ours (nodegate bench), "
                        "go (bench/go/src/loadgen); default both")
    p.add_argument("--no-cold", action="store_true")
    p.add_argument("--no-postgres", action="store_true", help="skip the fleet rows (*-pg)")
    p.add_argument("--compare-binary", default="", help="another nodegate build to serve rows 3p/6p (A/B in one run)")
    p.add_argument("--out", default=str(SOURCE / "bench" / "results"))
    a = p.parse_args()
    a.generator_list = [g for g in a.generators.split(",") if g]
    if not a.generator_list or set(a.generator_list) - set(GENERATORS):
        p.error(f"--generators: a comma-separated list of {', '.join(GENERATORS)}")

    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    load_before = run(["uptime"]).stdout.strip()
    env = setup(a)
    only = set(filter(None, a.rows.split(",")))
    row_list = rows(env, only)
    titles = {r.key: r.title for r in row_list}
    notes = {r.key: r.note for r in row_list if r.note}
    results: dict[str, dict[str, list]] = {g: {r.key: [] for r in row_list} for g in env.generators}
    extras: dict = {"half_load": [], "idle_rss_mb": [], "cold": {},
                    "not_measured": {g: {} for g in env.generators}}
    if not env.nginx:
        extras["nginx_skipped"] = "nginx is not installed"
    log(f"workdir {env.work}; rows {', '.join(titles)}; generators {', '.join(env.generators)}; "
        f"{a.reps} reps × {len(env.generators)} × ({a.warmup:g}+{a.duration:g}) s")

    for rep in range(a.reps):
        for row in row_list:
            srv = Server(f"row{row.key}-rep{rep}", env.work,
                         f"{env.server_core},{env.client_core}" if row.server_cores == 2 else None)
            try:
                target, args = row.start(env, srv)
                if row.key == "3":
                    extras["idle_rss_mb"].append(srv.rss() / 2**20)
                if row.key == "3h":
                    extras.setdefault("idle_rss_mb_h2", []).append(srv.rss() / 2**20)
                if row.key in ("3", "3h") and rep == 0 and not a.no_cold:
                    try:
                        extras.setdefault("rss_2000", {})[row.key] = rss_at_connections(env, srv, target, 2000)
                    except (OSError, ValueError) as exc:
                        log(f"row {row.key}: RSS at 2,000 connections not measured: {exc}")
                measured = {}
                v_before = verify_rate(env, row.alg) if row.alg else None
                for gen in env.generators:  # ours, then Go's, on the same running server
                    try:
                        m = measure(env, srv, target, args, a, row.concurrency, row.connections, gen)
                        m["rep"] = rep
                        if row.alg:  # the verify rate around this run: the mean of the two times
                            v_after = verify_rate(env, row.alg)
                            m["verify_rate"] = 2 / (1 / v_before + 1 / v_after)
                            v_before = v_after
                    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                        # e.g. the Go generator on the SM2 row: the other generator's figure stands.
                        why = why_failed(exc)
                        extras["not_measured"][gen][row.key] = why
                        log(f"rep {rep + 1} row {row.key} [{gen}] not measured: {why}")
                        continue
                    measured[gen] = m
                    results[gen][row.key].append(m)
                    log(f"rep {rep + 1} row {row.key} [{gen}]: {m['qps']:,.0f} qps, cpu {m['cpu_pct']:.0f} %, "
                        f"eff {m['eff']:,.0f}/CPU-s, p99 {m['p99']:.2f} ms, errors {m['errors']}")
                if "ours" not in measured:
                    continue  # the half-load and cold-path rows need nodegate bench (--rate, new connections)
                m = measured["ours"]
                if row.key in ("6", "6h"):
                    rate = m["qps"] / 2
                    r = bench(env, target, args, a.duration, a.concurrency, a.connections,
                              ["--rate", f"{rate:.0f}"])
                    extras["half_load"].append({"row": row.key, "rate": rate, "qps": r["qps"], **{
                        k: r["latency_ms"][k] for k in ("p50", "p99", "p99_9")},
                        "lag_p99": r.get("start_lag_ms", {}).get("p99", float("nan")),
                        "owed": r.get("owed_calls", 0)})
                if row.key in ("3", "3h", "8") and not a.no_cold:
                    engine = {"3": "engine grpc", "3h": "engine h2", "8": "the Go server (row 8)"}[row.key]
                    for mode, extra in ((f"mTLS full handshake, {engine}", []),
                                        (f"mTLS with resumption, {engine}", ["--resume"])):
                        cpu0, t0 = srv.cpu_seconds(), time.monotonic()
                        r = bench(env, target, args, min(a.duration, 5), 8, 1,
                                  ["--new-connection-per-call", *extra])
                        cpu = srv.cpu_seconds() - cpu0
                        extras["cold"].setdefault(mode, []).append({
                            "qps": r["qps"], "cpu_pct": 100 * cpu / (time.monotonic() - t0),
                            "eff": r["ok"] / cpu if cpu else 0, "resumed": r.get("resumed_sessions", 0)})
            except Exception as exc:  # a failed row is reported, the suite goes on
                log(f"rep {rep + 1} row {row.key} failed: {exc}")
            finally:
                srv.stop()

    if env.pg is not None:
        env.pg.close()
    load_after = run(["uptime"]).stdout.strip()
    results = {g: {k: v for k, v in per_row.items() if v} for g, per_row in results.items()}
    text = report(env, a, results, titles, notes, extras, started, load_before, load_after)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.date.today().isoformat()
    (out / f"{stamp}.md").write_text(text)
    (out / f"{stamp}.json").write_text(json.dumps({"generators": env.generators, "results": results,
                                                   "extras": extras}, indent=1))
    print(text)
    log(f"wrote {out / (stamp + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
