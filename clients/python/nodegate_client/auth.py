"""grpc.AuthMetadataPlugin implementations: v1 node signatures, tokens, app keys.

Use them through ``grpc.metadata_call_credentials(plugin)`` composed with TLS channel credentials
(see ``nodegate_client.channel``); they work for sync and ``grpc.aio`` channels alike.
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.parse
from typing import Callable, Optional

import grpc

from .signing import Signer, b64url_encode, canonical_string

NODE_ID_HEADER = "x-node-id"
TIMESTAMP_HEADER = "x-node-timestamp"
NONCE_HEADER = "x-node-nonce"
SIGNATURE_HEADER = "x-node-signature"

NONCE_BYTES = 16
_NODE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")


def full_method(service_url: str, method_name: str) -> str:
    """gRPC gives call credentials ``https://host:port/pkg.Service`` and the bare method ``Method``;
    the server sees (and verifies) ``/pkg.Service/Method``."""
    path = urllib.parse.urlsplit(service_url).path or "/"
    if not path.endswith("/"):
        path += "/"
    return path + method_name


def _unix_ms() -> int:
    return time.time_ns() // 1_000_000


class SignatureAuthPlugin(grpc.AuthMetadataPlugin):
    """Signs every call with wire format v1: x-node-id, x-node-timestamp, x-node-nonce, x-node-signature.

    ``node_id`` is this node's registered id, ``audience`` the id (`[node] id`) of the node being called,
    ``signer`` a ``nodegate_client.signing.Signer`` (see ``load_signer``). A fresh 16-byte nonce and the
    current time go into every call, so no two calls carry the same signature.
    """

    def __init__(self, signer: Signer, node_id: str, audience: str, *,
                 clock_ms: Callable[[], int] = _unix_ms):
        for name, value in (("node_id", node_id), ("audience", audience)):
            if not isinstance(value, str) or not _NODE_ID_RE.fullmatch(value):
                raise ValueError(f"{name} must match [A-Za-z0-9._-]{{1,128}}, got {value!r}")
        if not hasattr(signer, "sign") or not hasattr(signer, "algorithm"):
            raise TypeError("signer must have .algorithm and .sign(data) (see load_signer)")
        self.signer = signer
        self.node_id = node_id
        self.audience = audience
        self._clock_ms = clock_ms

    def metadata_for(self, method: str) -> tuple:
        """The four headers for a call to the full method path ``method``."""
        timestamp = str(int(self._clock_ms()))
        nonce = b64url_encode(secrets.token_bytes(NONCE_BYTES))
        data = canonical_string(method, self.audience, self.node_id, timestamp, nonce)
        signature = b64url_encode(self.signer.sign(data))
        return ((NODE_ID_HEADER, self.node_id), (TIMESTAMP_HEADER, timestamp),
                (NONCE_HEADER, nonce), (SIGNATURE_HEADER, signature))

    def __call__(self, context: grpc.AuthMetadataContext,
                 callback: grpc.AuthMetadataPluginCallback) -> None:
        try:
            md = self.metadata_for(full_method(context.service_url, context.method_name))
        except Exception as exc:  # noqa: BLE001 - every failure must reach gRPC, not a thread's stderr
            callback(None, exc)
            return
        callback(md, None)


class TokenAuthPlugin(grpc.AuthMetadataPlugin):
    """``authorization: Bearer <token>`` (default) or the seed spelling ``access-token: <token>``."""

    HEADERS = ("authorization", "access-token")

    def __init__(self, token: str, header: str = "authorization"):
        if header not in self.HEADERS:
            raise ValueError(f"header must be one of {self.HEADERS}, got {header!r}")
        if not token:
            raise ValueError("token must not be empty")
        value = f"Bearer {token}" if header == "authorization" else token
        self._metadata = ((header, value),)

    def __call__(self, context, callback) -> None:
        callback(self._metadata, None)

    def __repr__(self) -> str:  # never the secret
        return f"<TokenAuthPlugin {self._metadata[0][0]}>"


class AppKeyAuthPlugin(grpc.AuthMetadataPlugin):
    """``app-key`` / ``app-secret``; with ``underscore=True`` the seed spelling ``app_key`` / ``app_secret``
    (accepted directly and behind nginx with ``underscores_in_headers on``)."""

    def __init__(self, key: str, secret: str, underscore: bool = False):
        if not key or not secret:
            raise ValueError("app key and secret must not be empty")
        sep = "_" if underscore else "-"
        self._metadata = ((f"app{sep}key", key), (f"app{sep}secret", secret))

    def __call__(self, context, callback) -> None:
        callback(self._metadata, None)

    def __repr__(self) -> str:
        return f"<AppKeyAuthPlugin {self._metadata[0][0]}>"
