"""A header the console forwards into gRPC metadata (issue 12, item 3): an `app-key` holding a tab is
not a legal gRPC metadata value, and gRPC aborts the process when asked to send one. Fixed: the
console answers with an ordinary HTTP status and the node keeps running."""

from __future__ import annotations

import http.client

import pytest

from faultlib import ROLL_DIE, FaultNode, https_request, settle, tail

ROLL_NEEDS_A_TOKEN = f'[[auth.rule]]\nmethod = "{ROLL_DIE}"\nauthenticators = ["token"]\n'
ORDINARY_ANSWERS = (200, 400, 401, 403)


@pytest.fixture
def node(tmp_path, pki, start_node, stubs) -> FaultNode:
    return FaultNode(tmp_path, pki, start_node, stubs, auth_toml=ROLL_NEEDS_A_TOKEN,
                     tokens=("roller",))


@pytest.mark.parametrize("bad_value", ["key\twith-tab", "key\x7fdel", "k\u00e9y"],
                         ids=["tab", "del", "non-ascii"])
def test_app_key_header_that_is_not_legal_metadata_gets_an_http_answer_not_an_abort(node, bad_value):
    token = node.tokens["roller"]
    bearer = (("authorization", f"Bearer {token}"),)
    assert 1 <= node.roll_die(metadata=bearer) <= 6  # the token works before the attack

    try:
        status, body = https_request(
            node.pki.ca, node.http_port, "POST", "/api/v1/dice/roll", body=b"{}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                     "app-key": bad_value.encode("latin-1"), "app-secret": "s3cret"},
            timeout=10)
    except (OSError, http.client.HTTPException) as exc:
        settle(node.daemon)
        raise AssertionError(f"no HTTP answer to an app-key of {bad_value!r} ({exc!r}); daemon "
                             f"alive: {node.daemon.running()}, exit code {node.daemon.exit_code()}"
                             f"\nstderr tail:\n{tail(node.daemon.stderr(), 5)}") from None

    assert status in ORDINARY_ANSWERS, (status, body[:300])
    node.assert_still_serving(f"an app-key header of {bad_value!r}", metadata=bearer)
