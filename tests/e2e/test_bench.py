"""`nodegate bench` against a real daemon: a short run parses as JSON, reports QPS, latency and
error counts, and a refused credential shows up as UNAUTHENTICATED errors (not as a crash or as
successes). The full benchmark suite (`make bench`) is too slow for `make test`."""

from __future__ import annotations

import json

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
