"""Hostile XML-RPC bodies from a caller with a valid client certificate (issue 12, items 1 and 5):
deep nesting must get an error answer, not a stack overflow; an entity bomb in UTF-16 must be
refused before it expands. Afterwards the node must still be a node."""

from __future__ import annotations

import http.client
import time

import pytest

import nodegate_testlib as ng
from faultlib import (FaultNode, Watchdog, cpu_seconds, is_error_answer, settle, status_kib,
                      xmlrpc_post)

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024  # docs/config.md: xmlrpc.max_request_bytes
ANSWER_TIMEOUT_S = 20.0


@pytest.fixture
def node(tmp_path, pki, start_node, stubs) -> FaultNode:
    return FaultNode(tmp_path, pki, start_node, stubs)


def nested_elements(depth: int) -> bytes:
    """`depth` nested <a> elements inside a methodCall's value: 7 bytes per level."""
    return (b"<?xml version='1.0'?><methodCall><methodName>set</methodName><params><param><value>"
            + b"<a>" * depth + b"</a>" * depth + b"</value></param></params></methodCall>")


def nested_arrays(depth: int) -> bytes:
    """set("k", [[[...]]]) with arrays nested `depth` deep: a well-formed XML-RPC call."""
    open_, close = b"<value><array><data>", b"</data></array></value>"
    return (b"<?xml version='1.0'?><methodCall><methodName>set</methodName><params>"
            b"<param><value><string>k</string></value></param><param>"
            + open_ * depth + close * depth + b"</param></params></methodCall>")


def post_and_classify(node: FaultNode, body: bytes) -> tuple[int, bytes]:
    """The answer to `body`; a dropped connection is reported with the daemon's state."""
    try:
        return xmlrpc_post(node, body, timeout=ANSWER_TIMEOUT_S)
    except (OSError, http.client.HTTPException) as exc:
        settle(node.daemon)
        raise AssertionError(
            f"no answer to a {len(body)}-byte body ({exc!r}); daemon alive: {node.daemon.running()}, "
            f"exit code {node.daemon.exit_code()}") from None


@pytest.mark.parametrize("body", [nested_elements(180_000), nested_arrays(90_000)],
                         ids=["180k-nested-elements", "arrays-nested-90k-deep"])
def test_deeply_nested_request_gets_an_error_answer_and_the_node_survives(node, body):
    assert len(body) < DEFAULT_MAX_REQUEST_BYTES  # it is the parser, not the size cap, that must cope

    status, answer = post_and_classify(node, body)

    assert is_error_answer(status, answer), (status, answer[:300])
    node.assert_still_serving(f"a {len(body)}-byte deeply nested XML-RPC body")


def utf16_entity_bomb() -> bytes:
    """The classic 'billion laughs' (10 levels of 10 references), encoded as UTF-16LE with a BOM, so
    that a byte search for '<!DOCTYPE' / '<!ENTITY' in the raw body finds nothing."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10)]
    text = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE m [' + "".join(entities) + "]>"
            "<methodCall><methodName>set</methodName><params><param><value><string>k</string>"
            "</value></param><param><value><string>&lol9;</string></value></param></params>"
            "</methodCall>")
    return b"\xff\xfe" + text.encode("utf-16-le")


def test_utf16_entity_bomb_is_refused_without_expanding(node):
    body = utf16_entity_bomb()
    assert 1500 <= len(body) <= 2048, len(body)  # ~1.7 KB on the wire
    pid = node.daemon.pid
    cpu_before = cpu_seconds(pid)
    rss_before = status_kib(pid, "VmRSS")
    hwm_before = status_kib(pid, "VmHWM")

    # The watchdog stops an expanding parser well past the bound, so a failure is quick and says why.
    with Watchdog(node.daemon, max_rss_mib=512, max_cpu_s=5) as watchdog:
        started = time.monotonic()
        try:
            status, answer = xmlrpc_post(node, body, timeout=10)
        except (OSError, http.client.HTTPException) as exc:
            status, answer = 0, repr(exc).encode()
        elapsed = time.monotonic() - started
    assert not watchdog.tripped, watchdog.tripped
    assert node.daemon.running(), f"the daemon died: exit code {node.daemon.exit_code()}"

    cpu = cpu_seconds(pid) - cpu_before
    rss_growth_mib = (status_kib(pid, "VmRSS") - rss_before) / 1024
    hwm_growth_mib = (status_kib(pid, "VmHWM") - hwm_before) / 1024
    ng.record_metric("fault_utf16_entity_bomb_cpu", cpu, "s",
                     f"rss_growth={rss_growth_mib:.1f}MiB hwm_growth={hwm_growth_mib:.1f}MiB "
                     f"answer={elapsed:.2f}s status={status}")
    if not is_error_answer(status, answer):
        node.daemon.proc.kill()  # still expanding: the test has failed, don't wait for it in teardown
    assert cpu < 1.0, (f"the daemon spent {cpu:.2f} s of CPU on a {len(body)}-byte body "
                       f"(answer after {elapsed:.1f} s: {status} {answer[:100]!r})")
    assert max(rss_growth_mib, hwm_growth_mib) < 20, \
        f"the daemon grew by {rss_growth_mib:.1f} MiB RSS / {hwm_growth_mib:.1f} MiB peak"
    assert is_error_answer(status, answer), (status, answer[:300])
    node.assert_still_serving("a UTF-16 entity bomb")
