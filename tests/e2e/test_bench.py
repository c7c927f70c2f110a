"""`nodegate bench` against a real daemon: a short run parses as JSON, reports QPS, latency and
error counts, and a refused credential shows up as UNAUTHENTICATED errors (not as a crash or as
successes). The same for the suite's Go load generator (bench/go/src/loadgen), with mTLS and with
per-call signatures. The full benchmark suite (`make bench`) is too slow for `make test`; the
arithmetic of its report (ratios paired by repetition, the crypto limit) is tested here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest

import nodegate_testlib as ng

BENCH_S = "2s"


def bench(*args) -> dict:
    proc = ng.run_nodegate("bench", "--duration", BENCH_S, "--concurrency", "8", "--connections", "2",
                           "--json", *args, timeout=60)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_bench_reports_qps_latency_and_error_counts(node):
    result = bench(*node.call_args(), "--server-name", "localhost")
    assert result["qps"] > 0
    assert result["ok"] > 0 and result["errors"] == 0
    assert result["errors_by_code"] == {}
    lat = result["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]
    assert result["transport"] == "mtls"


TOKEN_ONLY_ROLLDIE = """
[[auth.rule]]
method = "/api.DiceService/RollDie"
authenticators = ["token"]
"""


def test_bench_counts_refused_credential_as_unauthenticated(tmp_path, pki, start_node):
    # RollDie accepts only tokens here; a token the node does not know is refused by authorization
    # (the client certificate alone does not vouch for this method).
    node = ng.make_secure_node(tmp_path, pki, start_node, extra_toml=TOKEN_ONLY_ROLLDIE)
    result = bench(*node.call_args(), "--server-name", "localhost", "--token", "ngt_not-a-real-token")
    assert result["ok"] == 0 and result["qps"] == 0
    assert result["errors"] > 0
    assert result["errors_by_code"] == {"UNAUTHENTICATED": result["errors"]}


def test_bench_rejects_bad_flags_with_exit_2():
    proc = ng.run_nodegate("bench", "--target", "127.0.0.1:1", "--plaintext", "--method", "RollDie",
                           check=False)
    assert proc.returncode == 2
    assert "--method" in proc.stderr


# ------------------------------------------------------------------------------------------------
# The suite's second load generator, bench/go/src/loadgen (grpc-go): `make bench` measures every row
# with it too, so it must reach a real node with each credential the rows use and report the same
# JSON fields. Built offline in GOPATH mode as bench/run_suite.py builds it.

LOADGEN_SOURCES = ng.SOURCE_DIR / "bench" / "go" / "src" / "loadgen"
GO_SYSTEM_PATH = Path("/usr/share/gocode")
GO_BUILD_TIMEOUT_S = 240.0  # cold build of grpc-go: seconds idle, much more on a busy box
SIGNATURE_ONLY_ROLLDIE = """
[[auth.rule]]
method = "/api.DiceService/RollDie"
authenticators = ["signature"]
"""


def missing_go_toolchain() -> Optional[str]:
    for tool in ("go", "protoc", "protoc-gen-go"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    if not (GO_SYSTEM_PATH / "src" / "google.golang.org" / "grpc").is_dir():
        return f"grpc-go not found under {GO_SYSTEM_PATH} (golang-google-grpc-dev)"
    return None


needs_go = pytest.mark.skipif(
    missing_go_toolchain() is not None,
    reason=f"Go toolchain absent ({missing_go_toolchain()}); scripts/install-deps installs it")


@pytest.fixture(scope="module")
def go_loadgen(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("go_loadgen")
    src = root / "go" / "src"
    src.mkdir(parents=True)
    subprocess.run(["protoc", f"-I{ng.SOURCE_DIR / 'proto'}", f"--go_out=plugins=grpc:{src}", "api/dice.proto"],
                   check=True, capture_output=True, timeout=60)
    shutil.copytree(LOADGEN_SOURCES, src / "loadgen")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}  # GOFLAGS etc. unset
    env.update(GO111MODULE="off", GOPATH=f"{root / 'go'}:{GO_SYSTEM_PATH}", GOCACHE=str(root / "cache"),
               GOPROXY="off", GOTOOLCHAIN="local", CGO_ENABLED="0")
    out = root / "loadgen"
    proc = subprocess.run(["go", "build", "-o", str(out), "loadgen"], env=env, cwd=root, capture_output=True,
                          text=True, timeout=GO_BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"go build loadgen:\n{proc.stderr}"
    return out


def go_bench(loadgen: Path, *args, check_json: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(loadgen), "-duration", "1s", "-concurrency", "8", "-connections", "2",
                           *map(str, args)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    if check_json:
        assert proc.returncode == 0, proc.stderr
    return proc


def go_node_args(node) -> list:
    return ["-target", node.address, "-ca", node.pki.ca, "-cert", node.client.cert, "-key", node.client.key,
            "-server-name", "localhost"]


@needs_go
def test_go_loadgen_reports_ok_calls_in_nodegate_bench_shape(node, go_loadgen):
    result = json.loads(go_bench(go_loadgen, *go_node_args(node)).stdout.strip().splitlines()[-1])
    assert result["generator"] == "go" and result["transport"] == "mtls"
    assert result["ok"] > 0 and result["errors"] == 0 and result["errors_by_code"] == {}
    assert result["qps"] > 0
    lat = result["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]


@needs_go
def test_go_loadgen_signs_every_call_afresh(tmp_path, pki, start_node, go_loadgen):
    # Signature-only RollDie: every call must carry a valid v1 signature with a nonce the node has not
    # seen (its replay cache refuses a repeat), so errors == 0 over thousands of calls says both.
    keys = tmp_path / "signer"
    ng.run_nodegate("keys", "gen", "--alg", "ed25519", "--out", keys)
    node = ng.make_secure_node(tmp_path, pki, start_node, extra_toml=SIGNATURE_ONLY_ROLLDIE)
    ng.run_nodegate("node", "add", "--config", node.config, "--id", "bench-signer", "--alg", "ed25519",
                    "--public-key", keys / "signing-pub.pem")
    unsigned = json.loads(go_bench(go_loadgen, *go_node_args(node)).stdout.strip().splitlines()[-1])
    assert unsigned["ok"] == 0 and set(unsigned["errors_by_code"]) == {"UNAUTHENTICATED"}

    result = json.loads(go_bench(go_loadgen, *go_node_args(node), "-sign-key", keys / "signing-key.pem",
                                 "-node-id", "bench-signer", "-audience", "e2e-node").stdout.strip().splitlines()[-1])
    assert result["ok"] > 0 and result["errors"] == 0, result["errors_by_code"]


@needs_go
def test_go_loadgen_refuses_sm2_key_naming_the_flag(tmp_path, go_loadgen):
    ng.run_nodegate("keys", "gen", "--alg", "sm2-sm3", "--out", tmp_path / "sm2")
    proc = go_bench(go_loadgen, "-target", "127.0.0.1:1", "-plaintext", "-sign-key",
                    tmp_path / "sm2" / "signing-key.pem", "-node-id", "x", "-audience", "y", check_json=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "-sign-key" in proc.stderr and "SM2" in proc.stderr


# ================================================================================================
# The suite's report (bench/run_suite.py): ratios are paired by repetition


def _suite():
    import importlib
    import sys
    sys.path.insert(0, str(ng.SOURCE_DIR / "bench"))
    try:
        return importlib.import_module("run_suite")
    finally:
        sys.path.pop(0)


def test_suite_pairs_each_ratio_within_a_repetition_and_skips_unpaired_ones():
    suite = _suite()
    # Rep 1 ran on a slow box for both rows: paired, the token row is as fast as mTLS in both reps;
    # the ratio of medians (70 / 75) would say 0.93. Rep 2 has no mTLS sample to pair with.
    res = {"3h": [{"rep": 0, "eff": 100.0}, {"rep": 1, "eff": 50.0}],
           "4h": [{"rep": 0, "eff": 100.0}, {"rep": 1, "eff": 50.0}, {"rep": 2, "eff": 40.0}]}
    assert suite.paired_ratios(res, "4h", "3h") == [1.0, 1.0]
    assert suite.paired_ratios(res, "4h", "8") == []


def test_suite_crypto_limit_takes_the_verify_rate_measured_with_the_row():
    suite = _suite()
    # limit = 1 / (1/E + 1/V): rep 0 → 1/(1/100 + 1/25) = 20, eff 16 → 0.8;
    # rep 1 → 1/(1/50 + 1/50) = 25, eff 25 → 1.0. A sample without its verify rate is left out.
    res = {"3h": [{"rep": 0, "eff": 100.0}, {"rep": 1, "eff": 50.0}],
           "5ah": [{"rep": 0, "eff": 16.0, "verify_rate": 25.0},
                   {"rep": 1, "eff": 25.0, "verify_rate": 50.0},
                   {"rep": 2, "eff": 99.0}]}
    lim = suite.against_limit(res, "5ah", "3h")
    assert lim["ratios"] == pytest.approx([0.8, 1.0])
    assert lim["ratio"] == pytest.approx(0.9)
    # Beyond the verify: 1/eff − 1/V, in µs: rep 0 → 1/16 − 1/25 = 0.0225 s, rep 1 → 1/25 − 1/50.
    assert lim["beyond_us"] == pytest.approx((0.0225e6 + 0.02e6) / 2)
    assert suite.against_limit(res, "5bh", "3h") is None

    table = "\n".join(suite.issue16_goals(["ours"], {"ours": res}))
    assert "| ECDSA (5ah) ≥ 0.90 of the crypto limit | **0.90 (0.80–1.00)** |" in table
    assert "Ed25519" not in table  # no row 5bh: no line
