"""End-to-end: the node's HTTPS console and JSON gateway ([http], issue 7) against the real daemon.

The JSON API, /metrics, /healthz and /readyz are driven with Python's ssl/urllib; the console page is
driven in Debian's headless Chromium over the DevTools protocol (python3-websocket), logging in with
an access token (Chromium cannot easily present a client certificate headless). The screenshot is
saved under $NODEGATE_BUILD_DIR/test-output/console.png.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nodegate_testlib as ng  # noqa: E402

HTTP_RE = re.compile(r"listening http=127\.0\.0\.1:(\d+)")
ROLL = "/api.DiceService/RollDie"


class Console:
    """A running node with [http] enabled, and HTTPS helpers."""

    def __init__(self, tmp_path: Path, pki: ng.Pki, start_node, extra_toml: str = ""):
        self.pki = pki
        self.server = pki.issue("server", "server")
        self.client = pki.issue("dev-client", "client")
        self.config = ng.node_config(
            tmp_path, cert=self.server.cert, key=self.server.key, ca=pki.ca,
            extra={"http": {"listen": "127.0.0.1:0", "client_auth": "request",
                            "client_cert": str(self.client.cert), "client_key": str(self.client.key)}})
        if extra_toml:
            with self.config.open("a") as f:
                f.write("\n" + extra_toml)
        # Tokens exist before the daemon starts: its credential cache loads them at start-up.
        self.admin_token = ng.create_token(self.config, "alice", "admin")
        self.user_token = ng.create_token(self.config, "bob", "")
        self.daemon = start_node(self.config)
        m = ng.wait_until(lambda: HTTP_RE.search(self.daemon.stderr()), ng.START_TIMEOUT_S,
                          "the 'listening http=' line")
        self.http_port = int(m.group(1))

    def context(self, with_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca))
        if with_cert:
            ctx.load_cert_chain(str(self.client.cert), str(self.client.key))
        return ctx

    def request(self, method: str, path: str, token: str | None = None, body: bytes | None = None,
                with_cert: bool = False, headers: dict | None = None):
        conn = http.client.HTTPSConnection(ng.HOST, self.http_port, timeout=10,
                                           context=self.context(with_cert))
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if body is None and method in ("POST", "PUT"):
            body = b""
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, token: str | None = None, **kw):
        status, _, body = self.request(method, path, token, **kw)
        return status, json.loads(body) if body else None

    def metrics(self, token: str | None = None) -> dict:
        status, headers, body = self.request("GET", "/metrics", token or self.user_token)
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse_prometheus(body.decode())

    def grpc_channel(self):
        creds = ng.channel_credentials(self.pki.ca, self.client.cert, self.client.key)
        return ng.fresh_channel(self.daemon.address, creds)


# --------------------------------------------------------------------------------------------------
# A tiny Prometheus text-format (0.0.4) parser: every line must be a comment, blank, or a sample.

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_prometheus(text: str) -> dict:
    """{(name, frozenset(labels)): value}; raises on any malformed line."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            assert len(parts) >= 3 and parts[1] in ("HELP", "TYPE"), f"bad comment: {line!r}"
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a Prometheus sample: {line!r}"
        labels = {}
        rest = m.group(3) or ""
        pos = 0
        while pos < len(rest):
            lm = LABEL_RE.match(rest, pos)
            assert lm, f"bad labels in {line!r}"
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        value = float(m.group(4))  # also accepts +Inf / NaN
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in types or base in types, f"sample without # TYPE: {line!r}"
        samples[(m.group(1), frozenset(labels.items()))] = value
    return samples


def sample(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def console(tmp_path, pki, start_node) -> Console:
    return Console(tmp_path, pki, start_node)


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    return ng.generate_v1_stubs(tmp_path_factory.mktemp("v1"))


def kv_set_over_grpc(console: Console, v1, key: str, value: bytes) -> None:
    with console.grpc_channel() as channel:
        stub = v1.kv_pb2_grpc.KeyValueStub(channel)
        stub.Set(v1.kv_pb2.SetRequest(key=key, value=value, content_type="text/plain"),
                 timeout=ng.RPC_TIMEOUT_S)


# --------------------------------------------------------------------------------------------------
# JSON API


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/node"), ("GET", "/api/v1/kv"), ("GET", "/api/v1/kv/x"), ("PUT", "/api/v1/kv/x"),
    ("DELETE", "/api/v1/kv/x"), ("GET", "/api/v1/nodes"), ("GET", "/api/v1/policy"),
    ("POST", "/api/v1/dice/roll"), ("GET", "/api/v1/access-log"), ("GET", "/metrics")])
def test_refuses_requests_without_credentials_with_401(console, method, path):
    status, headers, body = console.request(method, path)
    assert status == 401, body
    assert json.loads(body)["code"] == "UNAUTHENTICATED"
    assert headers.get("WWW-Authenticate") == "Bearer"


def test_refuses_an_unknown_token_with_401(console):
    assert console.request("GET", "/api/v1/node", "no-such-token")[0] == 401


def test_refuses_a_caller_without_the_role_with_403(console):
    status, body = console.json("GET", "/api/v1/nodes", console.user_token)
    assert status == 403, body
    assert body["code"] == "PERMISSION_DENIED"
    status, body = console.json("GET", "/api/v1/nodes", console.admin_token)
    assert status == 200, body
    assert "nodes" in body


def test_refusals_are_counted_and_logged_like_grpc_ones(console):
    before = sample(console.metrics(), "nodegate_auth_rejections_total", reason="role_missing")
    logged_before = len([e for e in console.daemon.access_log()
                         if e.get("method") == "GET /api/v1/nodes"])
    console.request("GET", "/api/v1/nodes", console.user_token)
    after = sample(console.metrics(), "nodegate_auth_rejections_total", reason="role_missing")
    assert after == before + 1
    # The access log is written in batches: wait for this request's line, not an earlier one.
    lines = ng.wait_until(lambda: [e for e in console.daemon.access_log()
                                   if e.get("method") == "GET /api/v1/nodes"][logged_before:],
                          5, "access log line")
    assert lines[-1]["status"] == "PERMISSION_DENIED"
    assert lines[-1]["principal"] == "user:bob"


def test_client_certificate_authenticates_as_mtls(console):
    status, body = console.json("GET", "/api/v1/node", with_cert=True)
    assert status == 200, body
    assert body["principal"] == {"kind": "node", "id": "dev-client", "roles": [],
                                 "authenticators": ["mtls"]}


def test_node_shows_id_certificate_and_listeners(console):
    status, body = console.json("GET", "/api/v1/node", console.user_token)
    assert status == 200, body
    assert body["node_id"] == "e2e-node"
    cert = ng.load_cert(console.server.cert)
    assert body["certificate"]["serial"] == ng.serial_hex(cert.serial_number)
    assert body["certificate"]["fingerprint_sha256"] == ng.sha256_fingerprint(cert).replace(":", "").lower()
    assert 360 <= body["certificate"]["days_left"] <= 366
    names = {l["name"]: l["address"] for l in body["listeners"]}
    assert names["grpc"] == console.daemon.address
    assert names["https console"] == f"127.0.0.1:{console.http_port}"


HTTP_ROLL = "POST /api/v1/dice/roll"


def http_rolls(console) -> list[dict]:
    return [e for e in console.daemon.access_log() if e.get("method") == HTTP_ROLL]


def test_dice_roll_is_decided_by_the_rolldie_rule_and_logged_once_as_the_caller(console):
    grpc_before = len([e for e in console.daemon.access_log() if e.get("method") == ROLL])
    http_before = len(http_rolls(console))
    status, body = console.json("POST", "/api/v1/dice/roll", console.user_token, body=b"{}")
    assert status == 200, body
    assert 1 <= body["face"] <= 6
    assert body["via"] == ROLL  # the rule that decided it and the service that rolled
    rolls = ng.wait_until(lambda: http_rolls(console)[http_before:] or None, 5,
                          "the dice roll's access-log line")
    assert len(rolls) == 1
    assert rolls[0]["status"] == "OK"
    assert rolls[0]["principal"] == "user:bob"
    # In-process: no second, loop-back gRPC call is made or logged.
    assert len([e for e in console.daemon.access_log() if e.get("method") == ROLL]) == grpc_before


def test_dice_roll_with_a_token_only_rule_survives_control_characters_in_app_key_headers(
        tmp_path, pki, start_node):
    # Once, the console forwarded these headers into a loop-back gRPC call, where gRPC asserted on
    # the tab and the whole node aborted (SIGABRT).
    rule = ('[[auth.rule]]\nmethod = "/api.DiceService/RollDie"\n'
            'authenticators = ["token"]\n')
    console = Console(tmp_path, pki, start_node, extra_toml=rule)
    evil = {"app-key": "key\twith\ttabs", "app-secret": "s\tecret"}
    status, _, body = console.request("POST", "/api/v1/dice/roll", console.user_token, body=b"{}",
                                      headers=evil)
    assert status == 200, body
    status, _, body = console.request("POST", "/api/v1/dice/roll", body=b"{}", headers=evil)
    assert status == 401, body  # the app key is not a credential this rule accepts
    assert console.json("GET", "/healthz")[0] == 200
    assert console.daemon.proc.poll() is None


def test_kv_key_set_over_grpc_is_listed_and_read(console, v1):
    kv_set_over_grpc(console, v1, "e2e/greeting", b"hello from grpc")
    status, body = console.json("GET", "/api/v1/kv?prefix=e2e/", console.user_token)
    assert status == 200, body
    assert body["keys"] == ["e2e/greeting"]
    status, body = console.json("GET", "/api/v1/kv/e2e/greeting", console.user_token)
    assert body["value"] == "hello from grpc"
    assert base64.b64decode(body["value_base64"]) == b"hello from grpc"


def test_kv_put_and_delete_over_http(console, v1):
    status, _, _ = console.request("PUT", "/api/v1/kv/http/k", console.user_token, body=b"v1",
                                   headers={"Content-Type": "text/plain"})
    assert status == 200
    with console.grpc_channel() as channel:
        got = v1.kv_pb2_grpc.KeyValueStub(channel).Get(v1.kv_pb2.GetRequest(key="http/k"),
                                                       timeout=ng.RPC_TIMEOUT_S)
    assert got.value == b"v1" and got.content_type == "text/plain"
    assert console.request("DELETE", "/api/v1/kv/http/k", console.user_token)[0] == 200
    assert console.request("GET", "/api/v1/kv/http/k", console.user_token)[0] == 404


def test_policy_lists_grpc_rules_and_http_routes(console):
    status, body = console.json("GET", "/api/v1/policy", console.user_token)
    assert status == 200
    methods = {r["method"] for r in body["rules"]}
    assert ROLL in methods
    routes = {r["route"]: r for r in body["http_routes"]}
    assert routes["GET /api/v1/nodes"]["roles"] == ["admin"]
    assert routes["GET /healthz, GET /readyz"]["public"] is True


def test_metrics_parse_and_counters_move_after_calls(console, stubs):
    before = console.metrics()
    for _ in range(2):
        assert console.json("POST", "/api/v1/dice/roll", console.user_token, body=b"{}")[0] == 200
    creds = ng.channel_credentials(console.pki.ca, console.client.cert, console.client.key)
    ng.roll_die(stubs, console.daemon.address, creds)
    # The call is counted when the server learns that its status went out, which can be after the
    # client has the reply: wait for the counter to move, then check it moved by exactly one.
    calls = "nodegate_grpc_calls_total"
    hist = "nodegate_grpc_call_duration_seconds_count"

    def counted() -> dict | None:
        m = console.metrics()
        moved = (sample(m, calls, method=ROLL, code="OK") > sample(before, calls, method=ROLL, code="OK")
                 and sample(m, hist, method=ROLL) > sample(before, hist, method=ROLL))
        return m if moved else None

    after = ng.wait_until(counted, 5, "the RollDie call in nodegate_grpc_calls_total and its histogram")
    # The console's rolls are HTTP requests (served in-process); only the real RPC is a gRPC call.
    assert sample(after, calls, method=ROLL, code="OK") == sample(before, calls, method=ROLL, code="OK") + 1
    assert sample(after, hist, method=ROLL) == sample(before, hist, method=ROLL) + 1
    assert sample(after, "nodegate_http_requests_total", **{"class": "2xx"}) >= \
        sample(before, "nodegate_http_requests_total", **{"class": "2xx"}) + 2
    for name in ("nodegate_tls_cert_expiry_seconds", "nodegate_replay_cache_entries",
                 "nodegate_replay_ledger_batches_total", "nodegate_replay_ledger_nonces_total",
                 "nodegate_replay_ledger_waiting",
                 "process_resident_memory_bytes", "process_cpu_seconds_total"):
        assert any(k[0] == name for k in after), name
    assert sample(after, "nodegate_tls_reloads_total", result="failed") == 0


# --------------------------------------------------------------------------------------------------
# Login sessions and CSRF (issue 12)

SESSION_COOKIE = "nodegate_session"


def console_origin(console) -> str:
    return f"https://{ng.HOST}:{console.http_port}"


def login(console, token: str, **headers):
    h = {"Content-Type": "application/json", "Origin": console_origin(console)}
    h.update(headers)
    return console.request("POST", "/api/v1/login", body=json.dumps({"token": token}).encode(),
                           headers={k: v for k, v in h.items() if v is not None})


def session_of(set_cookie: str) -> str:
    name, _, rest = set_cookie.partition("=")
    assert name == SESSION_COOKIE, set_cookie
    return rest.split(";", 1)[0]


def test_login_cookie_is_a_session_id_not_the_token(console):
    status, headers, body = login(console, console.user_token)
    assert status == 200, body
    set_cookie = headers["Set-Cookie"]
    for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert f"; {attr}" in set_cookie, set_cookie
    session = session_of(set_cookie)
    assert console.user_token not in set_cookie and len(session) == 43
    cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
    status, _, body = console.request("GET", "/api/v1/node", headers=cookie)
    assert status == 200, body
    assert json.loads(body)["principal"]["id"] == "bob"
    # The raw token as a cookie (what the console used to set) authenticates nothing.
    assert console.request("GET", "/api/v1/node",
                           headers={"Cookie": f"nodegate_token={console.user_token}"})[0] == 401
    assert console.request("GET", "/api/v1/node",
                           headers={"Cookie": f"{SESSION_COOKIE}={console.user_token}"})[0] == 401


def test_logout_ends_the_session_and_a_replayed_cookie_is_401(console):
    status, headers, body = login(console, console.user_token)
    assert status == 200, body
    cookie = {"Cookie": f"{SESSION_COOKIE}={session_of(headers['Set-Cookie'])}"}
    status, headers, body = console.request(
        "POST", "/api/v1/logout", body=b"{}",
        headers={**cookie, "Content-Type": "application/json", "x-nodegate-console": "1",
                 "Origin": console_origin(console)})
    assert status == 200, body
    assert "Max-Age=0" in headers["Set-Cookie"]
    assert console.request("GET", "/api/v1/node", headers=cookie)[0] == 401


def test_login_refuses_text_plain_with_415_and_a_foreign_origin_with_403(console):
    status, headers, body = login(console, console.user_token, **{"Content-Type": "text/plain"})
    assert status == 415, body
    assert "Set-Cookie" not in headers
    status, headers, body = login(console, console.user_token, Origin="https://evil.example")
    assert status == 403, body
    assert "Set-Cookie" not in headers


def test_the_token_is_in_no_access_log_line(console):
    login(console, console.user_token)
    login(console, console.user_token, **{"Content-Type": "text/plain"})
    lines = ng.wait_until(lambda: [e for e in console.daemon.access_log()
                                   if e.get("method") == "POST /api/v1/login"][1:] or None, 5,
                          "both login lines")
    assert lines
    assert console.user_token not in console.daemon.stderr()
    assert all(console.user_token not in json.dumps(e) for e in console.daemon.access_log())


def test_healthz_and_readyz_are_public(console):
    status, body = console.json("GET", "/healthz")
    assert (status, body["status"]) == (200, "ok")
    status, body = console.json("GET", "/readyz")
    assert (status, body["status"]) == (200, "ready")


def test_http_listener_is_off_unless_configured(tmp_path, pki, start_node):
    node = ng.make_secure_node(tmp_path, pki, start_node)
    assert "listening http=" not in node.daemon.stderr()


def test_unknown_http_key_is_a_startup_error(tmp_path, pki):
    server = pki.issue("server", "server")
    config = ng.node_config(tmp_path, cert=server.cert, key=server.key, ca=pki.ca,
                            extra={"http": {"listen": "127.0.0.1:0", "open": True}})
    proc = ng.run_to_exit(config, tmp_path)
    assert proc.returncode != 0
    assert "http.open" in proc.stderr


# --------------------------------------------------------------------------------------------------
def raw_exchange(console: Console, request: bytes) -> tuple[int, dict, bytes]:
    """Sends bytes as they are (no client library fixing them up) and parses the one answer."""
    import socket  # noqa: PLC0415

    with socket.create_connection((ng.HOST, console.http_port), timeout=10) as raw, \
            console.context().wrap_socket(raw, server_hostname=ng.HOST) as tls:
        tls.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            assert chunk, f"connection closed before an answer: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = tls.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split()[1]), headers, body


def test_errors_are_json_for_a_bodyless_post_and_for_a_malformed_request(console):
    """docs/console.md: "Errors are JSON" — also for what the listener refuses before any route."""
    auth = f"Authorization: Bearer {console.user_token}\r\n".encode()
    # A POST with no body and no Content-Length at all (what `curl -X POST` sends).
    status, headers, body = raw_exchange(
        console, b"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\n\r\n")
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": 'body must be {"token": "..."}', "code": "INVALID_ARGUMENT"}
    status, headers, body = raw_exchange(
        console, b"POST /api/v1/kv/x HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + b"\r\n")
    assert status == 405 and json.loads(body)["code"] == "UNIMPLEMENTED"
    # A chunked body that is not chunked: refused by the listener itself, still as JSON.
    status, headers, body = raw_exchange(
        console, b"POST /api/v1/dice/roll HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
                 b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert status == 400 and headers["content-type"] == "application/json", (headers, body)
    assert json.loads(body) == {"error": "bad request: malformed HTTP", "code": "INVALID_ARGUMENT"}


# The console page in headless Chromium (DevTools protocol)

CHROMIUM = shutil.which("chromium")


class DevTools:
    """One page target driven over its DevTools websocket."""

    def __init__(self, ws_url: str):
        import websocket  # python3-websocket  # noqa: PLC0415

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                assert "error" not in msg, f"{method}: {msg['error']}"
                return msg.get("result", {})

    def eval(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 20):
        return ng.wait_until(lambda: self.eval(expression) or None, timeout, what)

    def close(self):
        self.ws.close()


@pytest.fixture
def chromium(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/install-deps installs it)")
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--ignore-certificate-errors", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--window-size=1400,1900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        ng.wait_until(lambda: port_file.is_file() and port_file.read_text().strip() or None, 30,
                      "chromium's DevToolsActivePort")
        port = int(port_file.read_text().split()[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("PUT", "/json/new?about:blank")
        target = json.loads(conn.getresponse().read())
        conn.close()
        tools = DevTools(target["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def screenshot_path() -> Path:
    out = ng.BUILD_DIR / "test-output"
    out.mkdir(parents=True, exist_ok=True)
    return out / "console.png"


def test_console_page_in_headless_chromium(console, v1, chromium):
    kv_set_over_grpc(console, v1, "fleet/colour", b"blue")
    kv_set_over_grpc(console, v1, "fleet/size", b"3")
    page = chromium
    page.call("Page.enable")
    page.call("Runtime.enable")
    page.call("Emulation.setDeviceMetricsOverride", width=1400, height=1900, deviceScaleFactor=1,
              mobile=False)
    page.call("Page.navigate", url=f"https://127.0.0.1:{console.http_port}/")

    # Not logged in: the page asks for a token and shows no data.
    page.wait_for("!document.getElementById('login').classList.contains('hidden')", "the login form")
    assert page.eval("document.getElementById('main').classList.contains('hidden')")
    # No empty node-id badge before login: nothing is drawn for it.
    assert page.eval("getComputedStyle(document.getElementById('node-id')).display") == "none"
    assert page.eval("document.getElementById('node-id').getBoundingClientRect().width") == 0
    page.eval(f"document.getElementById('login-token').value = {json.dumps(console.user_token)}")
    page.eval("document.getElementById('login-button').click()")
    page.wait_for("document.body.dataset.ready === '1'", "the console to load after login")
    # The browser holds a session id, HttpOnly and SameSite=Strict, never the token.
    cookies = page.call("Network.getCookies",
                        urls=[f"https://127.0.0.1:{console.http_port}/"])["cookies"]
    session = [c for c in cookies if c["name"] == "nodegate_session"]
    assert len(session) == 1, cookies
    assert session[0]["httpOnly"] and session[0]["secure"] and session[0]["sameSite"] == "Strict"
    assert session[0]["value"] != console.user_token
    assert all(console.user_token not in c["value"] for c in cookies)

    assert page.eval("document.getElementById('node-id').textContent") == "e2e-node"
    assert page.eval("getComputedStyle(document.getElementById('node-id')).display") != "none"
    expiry = page.eval("document.getElementById('cert-expiry').textContent")
    not_after = ng.load_cert(console.server.cert).not_valid_after
    assert expiry.startswith(not_after.strftime("%Y-%m-%dT%H:%M:%SZ")), expiry
    assert re.search(r"\((36[0-6]) days left\)", expiry), expiry
    keys = page.eval("[...document.querySelectorAll('#kv-keys li')].map(li => li.dataset.key)")
    assert keys == ["fleet/colour", "fleet/size"]

    rolls_before = len(http_rolls(console))
    page.eval("document.getElementById('roll-button').click()")
    face = int(page.wait_for("document.getElementById('die-face').dataset.face", "a die face"))
    assert 1 <= face <= 6
    rolls = ng.wait_until(lambda: http_rolls(console)[rolls_before:] or None, 5,
                          "the dice roll's line in the daemon's access log")
    assert rolls[-1]["status"] == "OK" and rolls[-1]["principal"] == "user:bob"
    shown = page.eval("document.getElementById('die-face').textContent")
    assert shown == chr(0x2680 + face - 1)

    # The console's access log catches up with the roll (an HTTP request served in-process: it is
    # not a gRPC call, so the call counters do not move).
    page.wait_for("[...document.querySelectorAll('#access-log td')].some(td => td.textContent === "
                  f"{json.dumps(HTTP_ROLL)})", "the dice roll's line in the console's access log")
    page.eval("document.querySelector('#kv-keys li').click()")
    page.wait_for("document.getElementById('kv-value').textContent.includes('blue')", "a KV value")
    time.sleep(0.3)  # let the last paint land
    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    path = screenshot_path()
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 10_000

    # The page's own polling (every 3 s: /metrics and the access log) is in the node's access log
    # but not in the panel it refreshes, which would otherwise fill with it.
    ng.wait_until(lambda: sum(e.get("method") == "GET /api/v1/access-log"
                              for e in console.daemon.access_log()) >= 3, 15,
                  "three refreshes of the panel in the daemon's access log")
    page.eval("document.getElementById('roll-button').click()")  # refreshes the panel once more
    page.wait_for("document.querySelectorAll('#access-log td').length > 0", "the panel")
    shown_methods = page.eval(
        "[...document.querySelectorAll('#access-log tbody tr')].map(tr => tr.children[1].textContent)")
    assert HTTP_ROLL in shown_methods
    assert "GET /api/v1/access-log" not in shown_methods and "GET /metrics" not in shown_methods, \
        shown_methods
    assert "GET /api/v1/node" in shown_methods, "other console requests still show"

    # A refused roll is shown as an error, not as a face: revoke the token behind the session, then
    # roll. (This node's console port is 0 in its config, so `token revoke` cannot ask it and the
    # test waits for the refusal itself; test_cli_admin.py covers the waiting.)
    ng.run_nodegate("token", "revoke", "--config", console.config, "--token", console.user_token)
    ng.wait_until(lambda: console.request("GET", "/api/v1/node", console.user_token)[0] == 401, 10,
                  "the revoked token to be refused")
    page.eval("document.getElementById('roll-button').click()")
    note = page.wait_for("document.getElementById('die-note').className === 'error small' && "
                         "document.getElementById('die-note').textContent", "the failed roll")
    assert note.startswith("roll failed (401): "), note
    assert page.eval("document.getElementById('die-face').dataset.face") is None
    assert page.eval("document.getElementById('die-face').classList.contains('failed')")

    # Logging out ends the session on the node: the browser's old cookie is refused afterwards.
    page.eval("document.getElementById('logout-button').click()")
    page.wait_for("!document.getElementById('login').classList.contains('hidden')",
                  "the login form after logout")
    status, _, _ = console.request(
        "GET", "/api/v1/node", headers={"Cookie": f"nodegate_session={session[0]['value']}"})
    assert status == 401
