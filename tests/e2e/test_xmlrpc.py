"""XML-RPC over HTTPS ([xmlrpc] of `nodegate serve`): the seed's KeyValueServer client, unchanged —
Python's xmlrpc.client.ServerProxy over an SSL context that verifies the node against the CA and
presents a client certificate — and the same keys seen over gRPC nodegate.v1.KeyValue."""

from __future__ import annotations

import http.client
import ssl
import xmlrpc.client

import grpc
import pytest

import nodegate_testlib as ng

XMLRPC_TOML = '[xmlrpc]\nlisten = "127.0.0.1:0"\n'


@pytest.fixture(scope="module")
def v1(tmp_path_factory) -> ng.V1Stubs:
    return ng.generate_v1_stubs(tmp_path_factory.mktemp("v1"))


def xmlrpc_port(node: ng.SecureNode) -> int:
    m = ng.wait_until(lambda: ng.XMLRPC_LISTENING_RE.search(node.daemon.stderr()), 10,
                      "the 'listening xmlrpc=' line")
    return int(m.group(1))


@pytest.fixture
def xnode(tmp_path, pki, start_node) -> ng.SecureNode:
    return ng.make_secure_node(tmp_path, pki, start_node, extra_toml=XMLRPC_TOML)


def proxy(node: ng.SecureNode, cert=True, port=None) -> xmlrpc.client.ServerProxy:
    ctx = ng.tls_client_context(node.pki.ca, node.client.cert if cert else None,
                                node.client.key if cert else None)
    return xmlrpc.client.ServerProxy(f"https://{ng.HOST}:{port or xmlrpc_port(node)}", context=ctx,
                                     allow_none=True)


def test_values_keep_their_types(xnode):
    kv = proxy(xnode)
    values = {
        "str": "hello, wörld",
        "int": 42,
        "negative": -7,
        "float": 2.5,
        "bool": True,
        "none": None,
        "list": [1, "two", 3.5, False, None, [4]],
        "dict": {"name": "n1", "ports": [20000, 20001], "nested": {"ok": True}},
        "empty": "",
        "bytes": xmlrpc.client.Binary(b"\x00\x01\xff"),
    }
    for key, value in values.items():
        assert kv.set(key, value) is None
    for key, value in values.items():
        got = kv.get(key)
        if isinstance(value, xmlrpc.client.Binary):
            assert isinstance(got, xmlrpc.client.Binary) and got.data == value.data
        else:
            assert got == value and type(got) is type(value), (key, got)


def test_keys_exists_delete_like_the_seed(xnode):
    kv = proxy(xnode)
    for key in ("b", "a", "c"):
        kv.set(key, key.upper())
    assert kv.keys() == ["a", "b", "c"]
    assert kv.exists("a") is True
    assert kv.delete("a") is None
    assert kv.exists("a") is False
    assert kv.keys() == ["b", "c"]


def test_missing_key_is_a_keyerror_fault(xnode):
    kv = proxy(xnode)
    for call in (lambda: kv.get("nope"), lambda: kv.delete("nope")):
        with pytest.raises(xmlrpc.client.Fault) as err:
            call()
        assert err.value.faultCode == 1
        assert err.value.faultString == "<class 'KeyError'>:'nope'"


def test_a_key_set_over_xmlrpc_is_readable_over_grpc_and_back(xnode, v1):
    kv = proxy(xnode)
    kv.set("shared-text", "from xml-rpc")
    kv.set("shared-list", [1, 2])
    with ng.fresh_channel(xnode.address, xnode.client_creds()) as channel:
        stub = v1.kv_pb2_grpc.KeyValueStub(channel)
        text = stub.Get(v1.kv_pb2.GetRequest(key="shared-text"), timeout=ng.RPC_TIMEOUT_S)
        assert text.value == b"from xml-rpc"
        assert text.content_type.startswith("text/plain")
        typed = stub.Get(v1.kv_pb2.GetRequest(key="shared-list"), timeout=ng.RPC_TIMEOUT_S)
        assert typed.content_type == "application/vnd.nodegate.xmlrpc-value+xml"
        assert b"<array>" in typed.value and b"<i4>1</i4>" in typed.value
        stub.Set(v1.kv_pb2.SetRequest(key="from-grpc", value=b'{"a": 1}',
                                      content_type="application/json"), timeout=ng.RPC_TIMEOUT_S)
        stub.Set(v1.kv_pb2.SetRequest(key="binary", value=b"\x00\xff"), timeout=ng.RPC_TIMEOUT_S)
        assert stub.Exists(v1.kv_pb2.ExistsRequest(key="shared-list"),
                           timeout=ng.RPC_TIMEOUT_S).exists
    assert kv.get("from-grpc") == '{"a": 1}'
    assert kv.get("binary").data == b"\x00\xff"  # bytes XML cannot carry come back as base64
    assert kv.get("shared-list") == [1, 2]


def test_client_without_certificate_is_refused(xnode):
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        proxy(xnode, cert=False).keys()
    assert proxy(xnode).keys() == []


def test_client_certificate_from_another_ca_is_refused(xnode, other_ca):
    stranger = other_ca.issue("dev-client", "client")
    ctx = ng.tls_client_context(xnode.pki.ca, stranger.cert, stranger.key)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        xmlrpc.client.ServerProxy(f"https://{ng.HOST}:{xmlrpc_port(xnode)}", context=ctx).keys()


def test_server_certificate_is_verified_by_the_client(xnode, other_ca):
    ctx = ng.tls_client_context(other_ca.ca, xnode.client.cert, xnode.client.key)
    with pytest.raises(ssl.SSLCertVerificationError):
        xmlrpc.client.ServerProxy(f"https://{ng.HOST}:{xmlrpc_port(xnode)}", context=ctx).keys()


def raw_post(node: ng.SecureNode, body: bytes, path: str = "/RPC2") -> tuple[int, bytes]:
    ctx = ng.tls_client_context(node.pki.ca, node.client.cert, node.client.key)
    conn = http.client.HTTPSConnection(ng.HOST, xmlrpc_port(node), context=ctx,
                                       timeout=ng.RPC_TIMEOUT_S)
    try:
        conn.request("POST", path, body, {"Content-Type": "text/xml"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("body", [b"<methodCall><bad", b"not xml at all", b"",
                                  b"<methodCall><methodName>get</methodName></methodCall>",
                                  b"<methodCall><methodName>nosuch</methodName><params/></methodCall>",
                                  b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>"])
def test_malformed_or_wrong_calls_get_a_fault_and_the_server_survives(xnode, body):
    status, text = raw_post(xnode, body)
    assert status == 200
    assert b"<fault>" in text, text
    assert proxy(xnode).exists("anything") is False


def billion_laughs(declaration: str) -> str:
    doc = declaration + '<!DOCTYPE m [<!ENTITY a0 "lol">'
    for i in range(1, 10):
        doc += f'<!ENTITY a{i} "' + f"&a{i - 1};" * 10 + '">'
    return doc + "]><methodCall><methodName>&a9;</methodName></methodCall>"


UTF16_DECL = '<?xml version="1.0" encoding="UTF-16"?>'

# Each of these crashed the node (stack overflow in xmlrpc-c's recursive tree free) or cost it
# seconds of CPU and 100+ MB (the UTF-16 billion laughs, which a byte scan for "<!DOCTYPE" missed)
# before the libexpat guard (src/http/xml_guard.h) refused them.
HOSTILE_BODIES = {
    "180k-nested-elements": b"<a>" * 180_000 + b"</a>" * 180_000,
    "90k-nested-arrays": (b"<methodCall><methodName>set</methodName><params><param>"
                          + b"<value><array><data>" * 90_000 + b"</data></array></value>" * 90_000
                          + b"</param></params></methodCall>"),
    "utf16le-bom-billion-laughs": billion_laughs(UTF16_DECL).encode("utf-16"),
    "utf16be-billion-laughs": billion_laughs(UTF16_DECL).encode("utf-16-be"),
    "utf8-external-entity": b'<!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                            b"<methodCall><methodName>&e;</methodName></methodCall>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_hostile_bodies_are_refused_with_a_parse_fault_and_the_server_survives(xnode, name):
    status, text = raw_post(xnode, HOSTILE_BODIES[name])
    assert status == 200
    with pytest.raises(xmlrpc.client.Fault) as err:
        xmlrpc.client.loads(text)
    assert err.value.faultCode == -503, err.value  # xmlrpc-c's parse-error code
    assert "Call XML not a proper XML-RPC call" in err.value.faultString
    assert proxy(xnode).set("alive", 1) is None


def test_a_call_in_utf16_is_served(xnode):
    body = xmlrpc.client.dumps(("greeting", "grüße"), "set").replace(
        "<?xml version='1.0'?>", UTF16_DECL)
    status, text = raw_post(xnode, body.encode("utf-16"))
    assert status == 200
    assert xmlrpc.client.loads(text)[0] == (None,)
    assert proxy(xnode).get("greeting") == "grüße"


def test_request_size_is_bounded(tmp_path, pki, start_node):
    node = ng.make_secure_node(tmp_path, pki, start_node,
                               extra_toml=XMLRPC_TOML + "max_request_bytes = 4096\n")
    status, _ = raw_post(node, b"<methodCall>" + b"x" * 10000 + b"</methodCall>")
    assert status == 413
    with pytest.raises(xmlrpc.client.ProtocolError):
        proxy(node).set("big", "y" * 8000)
    assert proxy(node).set("small", "ok") is None


XMLRPC_METHOD = "/nodegate.xmlrpc.KeyValue/Call"


def test_client_auth_none_still_denies_an_anonymous_caller_by_default(tmp_path, pki, start_node):
    node = ng.make_secure_node(tmp_path, pki, start_node,
                               extra_toml=XMLRPC_TOML + 'client_auth = "none"\n')
    with pytest.raises(xmlrpc.client.ProtocolError) as err:
        proxy(node, cert=False).set("k", 1)
    assert err.value.errcode == 401


def test_client_auth_none_serves_clients_without_certificates_when_the_policy_says_public(
        tmp_path, pki, start_node):
    node = ng.make_secure_node(
        tmp_path, pki, start_node,
        extra_toml=XMLRPC_TOML + 'client_auth = "none"\n'
        f'[[auth.rule]]\nmethod = "{XMLRPC_METHOD}"\npublic = true\n')
    kv = proxy(node, cert=False)
    kv.set("k", 1)
    assert kv.get("k") == 1


class _BearerTransport(xmlrpc.client.SafeTransport):
    def __init__(self, token, **kw):
        super().__init__(**kw)
        self._token = token

    def send_headers(self, connection, headers):
        super().send_headers(connection, headers)
        connection.putheader("Authorization", f"Bearer {self._token}")


def test_policy_roles_apply_to_xmlrpc_and_every_request_is_access_logged(tmp_path, pki, start_node):
    node = ng.make_secure_node(
        tmp_path, pki, start_node,
        extra_toml=XMLRPC_TOML + f'[[auth.rule]]\nmethod = "{XMLRPC_METHOD}"\nroles = ["kv"]\n')
    # The client certificate alone authenticates (mtls) but lacks the role.
    with pytest.raises(xmlrpc.client.ProtocolError) as err:
        proxy(node).set("k", 1)
    assert err.value.errcode == 403
    token = ng.run_nodegate("token", "create", "--config", node.config, "--principal", "carol",
                            "--roles", "kv").stdout.strip()
    ctx = ng.tls_client_context(node.pki.ca, node.client.cert, node.client.key)
    kv = xmlrpc.client.ServerProxy(f"https://{ng.HOST}:{xmlrpc_port(node)}", allow_none=True,
                                   transport=_BearerTransport(token, context=ctx))
    ng.wait_until(lambda: _set_ok(kv), 5, "the new token to be accepted")
    assert kv.get("k") == 2

    # The access log is written in batches: wait for the lines this test made, not just any.
    def logged():
        entries = [e for e in node.daemon.access_log() if e.get("method") == XMLRPC_METHOD]
        refused = [e for e in entries if e["code"] == 7]
        allowed = [e for e in entries if e["code"] == 0 and e.get("principal") == "user:carol"]
        return (refused, allowed) if refused and len(allowed) >= 2 else None

    refused, allowed = ng.wait_until(logged, 5, "the refused and the allowed XML-RPC lines")
    assert refused[0]["reason"].startswith("role_missing")
    assert all(e["client_cn"] == "dev-client" for e in allowed)
    assert token not in node.daemon.stdout() + node.daemon.stderr()


def _set_ok(kv) -> bool:
    try:
        kv.set("k", 2)
        return True
    except xmlrpc.client.ProtocolError:
        return False


def test_unknown_xmlrpc_key_is_a_startup_error(tmp_path, pki):
    server = pki.issue("server", "server")
    config = ng.node_config(tmp_path, cert=server.cert, key=server.key, ca=pki.ca)
    config.write_text(config.read_text() + XMLRPC_TOML + "lisen = 1\n")
    result = ng.run_to_exit(config, tmp_path)
    assert result.returncode != 0 and "xmlrpc.lisen" in result.stderr, result.stderr
