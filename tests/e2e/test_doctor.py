"""`nodegate doctor` and `nodegate serve --check` (issue 15 §2), end to end: the real binary, certificates
made by `nodegate pki`, a running node where the check needs one.

Each common mistake is made on purpose and the report must name it (fail or warn, with the fix);
the healthy node and client report nothing wrong. The tunnel's allow-list rule is here too: a tunnel
server that names nobody does not start.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import nodegate_testlib as ng


def doctor(*args) -> tuple[int, str, str]:
    out = ng.run_nodegate("doctor", *args, check=False)
    return out.returncode, out.stdout, out.stderr


def lines(report: str, level: str) -> list[str]:
    return [l for l in report.splitlines() if l.startswith(level + " ")]


def node_files(tmp_path: Path, pki: ng.Pki, *, server_args=("--san", "127.0.0.1,localhost"),
               extra: dict | None = None, extra_toml: str = ""):
    server = pki.issue("server", "server", *server_args)
    client = pki.issue("dev-client", "client")
    pki.write_crl()
    config = ng.node_config(tmp_path, cert=server.cert, key=server.key, ca=pki.ca, crl=pki.crl,
                            extra=extra)
    if extra_toml:
        config.write_text(config.read_text() + "\n" + extra_toml)
    return server, client, config


def test_a_healthy_node_and_its_client_report_nothing_wrong(tmp_path, pki, start_node):
    server, client, config = node_files(tmp_path, pki, extra={"grpc": {"listen": f"{ng.HOST}:0"}})
    rc, out, err = doctor("--config", config, "--nginx-conf", "/dev/null")
    assert rc == 0, out + err
    assert not lines(out, "fail") and not lines(out, "warn"), out
    for needle in ("tls.key matches tls.cert", "tls.cert chains to tls.ca", "tls.crl nextUpdate",
                   "policy compiles", "store opens", "grpc.listen port"):
        assert needle in out, out

    daemon = start_node(config)
    client_toml = ng.client_config(tmp_path / "client.toml", target=daemon.address, ca=pki.ca,
                                   cert=client.cert, key=client.key)
    rc, out, err = doctor("--config", client_toml, "--json")
    assert rc == 0, out + err
    report = json.loads(out)
    assert report["fail"] == 0 and report["warn"] == 0, out
    checks = {f["check"]: f for f in report["findings"]}
    assert checks["ALPN h2"]["level"] == "ok"
    assert "node id e2e-node" in checks["Ping"]["detail"]
    assert checks[f"clock against {daemon.address}"]["level"] == "ok"

    # The running node's port: held by this node (same certificate), ALPN h2.
    running = tmp_path / "running.toml"
    running.write_text(config.read_text().replace(f'listen = "{ng.HOST}:0"',
                                                  f'listen = "{daemon.address}"'))
    rc, out, _ = doctor("--config", running, "--nginx-conf", "/dev/null")
    assert rc == 0, out
    assert "is held by this node (it serves tls.cert; TLSv1.3, ALPN h2)" in out, out


def test_a_port_taken_by_another_process_fails(tmp_path, pki):
    with socket.socket() as holder:
        holder.bind((ng.HOST, 0))
        holder.listen(8)
        port = holder.getsockname()[1]
        stop = threading.Event()

        def refuse():  # accept and close at once: not TLS, and no wait for the probe
            holder.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = holder.accept()
                    conn.close()
                except OSError:
                    pass

        t = threading.Thread(target=refuse, daemon=True)
        t.start()
        try:
            _, _, config = node_files(tmp_path, pki,
                                      extra={"grpc": {"listen": f"{ng.HOST}:{port}"}})
            rc, out, err = doctor("--config", config, "--nginx-conf", "/dev/null")
        finally:
            stop.set()
            t.join()
    assert rc == 1, out
    [fail] = lines(out, "fail")
    assert f"grpc.listen port: {ng.HOST}:{port} is taken by another process" in fail, out
    assert "1 check failed" in err


def test_a_certificate_without_the_listen_host_is_a_warning_and_the_client_is_told(
        tmp_path, pki, start_node):
    server, client, config = node_files(tmp_path, pki, server_args=("--san", "localhost"))
    rc, out, _ = doctor("--config", config, "--no-ports", "--nginx-conf", "/dev/null")
    assert rc == 0, out  # it serves; only clients that dial the IP fail
    [warn] = lines(out, "warn")
    assert "tls.cert does not name 127.0.0.1 (it names: localhost)" in warn, out
    assert "fix: reissue tls.cert with --san 127.0.0.1" in out, out

    daemon = start_node(config)
    # The node says it too, at start.
    assert "does not name 127.0.0.1, the host this node listens on" in daemon.stderr()
    client_toml = ng.client_config(tmp_path / "client.toml", target=daemon.address, ca=pki.ca,
                                   cert=client.cert, key=client.key)
    rc, out, _ = doctor("--config", client_toml)
    assert rc == 1, out
    [fail] = lines(out, "fail")
    assert "does not name 127.0.0.1 (it names: localhost) — use --server-name localhost" in fail, out


def test_serve_check_passes_a_good_config_and_names_what_is_wrong(tmp_path, pki):
    server, _, config = node_files(tmp_path, pki)
    out = ng.run_nodegate("serve", "--config", config, "--check", check=False)
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr
    assert not (tmp_path / "data" / "nodegate.db").exists()  # it touches nothing

    other = pki.issue("other", "server")
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace('key = "pki/server-key.pem"',
                                              f'key = "{other.key}"'))
    assert bad.read_text() != config.read_text()
    out = ng.run_nodegate("serve", "--config", bad, "-t", check=False)
    assert out.returncode == 1, out.stderr
    assert "fail  tls.key matches tls.cert" in out.stderr, out.stderr
    assert f"configuration file {bad} test failed" in out.stderr


def test_expiry_usages_rules_replay_store_and_nginx_are_named(tmp_path, pki):
    # A certificate with 10 days left and only serverAuth, though the console calls with it; a CRL
    # that goes stale in 5 days; a rule with a typo; a replay cache too small for 1000/s; a store
    # on a PostgreSQL nobody runs; an nginx that proxies here without underscores_in_headers.
    local_port = ng.free_port_block(1)
    pg_port = ng.free_port_block(1, low=33000, high=40000)
    server = pki.issue("server", "server", "--san", "127.0.0.1,localhost", "--days", "10")
    ng.run_nodegate("pki", "crl", "--dir", pki.dir, "--days", "5")
    config = ng.node_config(tmp_path, cert=server.cert, key=server.key, ca=pki.ca, crl=pki.crl,
                            extra={"grpc": {"local_listen": f"{ng.HOST}:{local_port}"},
                                   "http": {"listen": f"{ng.HOST}:0"},
                                   "auth.signature": {"replay_cache_capacity": 1000},
                                   "store": {"backend": "postgres",
                                             "url": f"host=127.0.0.1 port={pg_port} dbname=x "
                                                    "user=x connect_timeout=2"}})
    config.write_text(config.read_text() + '\n[[auth.rule]]\nmethod = "/api.DiceService/RollDice"\n'
                      'roles = ["ops"]\n')
    nginx = tmp_path / "site.conf"
    nginx.write_text(f"server {{ listen 9443 ssl http2; location / {{ grpc_pass grpc://127.0.0.1:{local_port}; }} }}\n")
    rc, out, _ = doctor("--config", config, "--no-ports", "--nginx-conf", nginx)
    assert rc == 1, out
    warns, fails = "\n".join(lines(out, "warn")), "\n".join(lines(out, "fail"))
    assert "tls.cert expiry: valid until" in warns, out
    assert "(in 9 days)" in warns or "(in 10 days)" in warns, out
    assert "tls.crl nextUpdate" in warns, out
    assert "tls.cert clientAuth (the console's calls)" in fails, out
    assert "auth.rule /api.DiceService/RollDice: names no method this node serves" in warns, out
    assert "did you mean /api.DiceService/RollDie?" in warns, out
    assert "auth.signature.replay_cache_capacity" in warns and "replay_cache_capacity = 75000" in out, out
    assert "store opens: store.url:" in fails, out
    assert f"nginx {nginx}: proxies to this node" in warns, out

    nginx.write_text("underscores_in_headers on;\n" + nginx.read_text())
    _, out, _ = doctor("--config", config, "--no-ports", "--nginx-conf", nginx)
    assert "nginx forwards app_key / app_secret" in "\n".join(lines(out, "ok")), out


def test_a_signing_client_with_the_wrong_audience_is_told(tmp_path, pki, start_node):
    server, client, config = node_files(tmp_path, pki)
    daemon = start_node(config)
    key = tmp_path / "sign.pem"
    key.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    client_toml = ng.write_toml(tmp_path / "client.toml", {"client": {
        "target": daemon.address, "ca": str(pki.ca), "cert": str(client.cert),
        "key": str(client.key), "server_name": "localhost", "node_id": "dev-client",
        "sign_key": str(key), "audience": "dev-node"}})
    rc, out, _ = doctor("--config", client_toml)
    assert rc == 1, out
    assert "ok    sign_key parses" in out and "(ed25519)" in out, out
    [fail] = lines(out, "fail")
    assert "addressed to 'dev-node' but the node is 'e2e-node'" in fail, out
    assert 'fix: set audience = "e2e-node"' in out, out


def test_a_tunnel_server_must_say_who_may_pass(tmp_path, pki):
    server = pki.issue("tunnel", "server")
    args = ["tunnel", "server", "--listen", f"{ng.HOST}:0", "--target", f"{ng.HOST}:1",
            "--cert", server.cert, "--key", server.key, "--ca", pki.ca]
    out = ng.run_nodegate(*args, check=False)
    assert out.returncode == 2, out.stderr
    assert "no allow-list" in out.stderr and "--allow-all" in out.stderr, out.stderr
    out = ng.run_nodegate(*args, "--allow-all", "--allow-cn", "alice", check=False)
    assert out.returncode == 2 and "keep one" in out.stderr, out.stderr

    _, _, config = node_files(tmp_path, pki, extra_toml='[[tunnel]]\nmode = "server"\n'
                              f'listen = "{ng.HOST}:0"\ntarget = "{ng.HOST}:1"\n')
    out = ng.run_nodegate("serve", "--config", config, "--check", check=False)
    assert out.returncode == 1, out.stderr
    assert "tunnel[0]: no allow-list" in out.stderr, out.stderr


def test_a_node_config_with_peer_checks_the_call_as_this_node_makes_it(tmp_path, pki, start_node):
    # The peer's own node: its certificate (serverAuth only) cannot be a client certificate, so the
    # peer refuses this node's handshake, and the doctor says so; reissued with --client it passes.
    server, _, config = node_files(tmp_path, pki)
    daemon = start_node(config)
    rc, out, _ = doctor("--config", config, "--no-ports", "--nginx-conf", "/dev/null",
                        "--peer", daemon.address)
    assert rc == 1, out
    [fail] = lines(out, "fail")
    assert f"TLS handshake with {daemon.address}" in fail and "the server closed the handshake" in fail, out

    pki.issue("server", "server", "--client", "--san", "127.0.0.1,localhost", "--force")
    rc, out, _ = doctor("--config", config, "--no-ports", "--nginx-conf", "/dev/null",
                        "--peer", daemon.address)
    assert rc == 0, out
    assert "ok    Ping: node id e2e-node" in out and "ok    ALPN h2" in out, out
