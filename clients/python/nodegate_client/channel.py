"""Channel factories in the shape of the seed's ``create_client_channel`` / ``create_aio_client_channel``:
TLS (or mTLS with ``cert``/``key``) channel credentials composed with nodegate's call credentials."""

from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import grpc

from .auth import AppKeyAuthPlugin, SignatureAuthPlugin, TokenAuthPlugin
from .signing import Signer, load_signer

PemArg = Union[bytes, str, "os.PathLike[str]", None]


def _pem(value: PemArg) -> Optional[bytes]:
    """Bytes are PEM content; str / PathLike are file paths."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    with open(value, "rb") as f:
        return f.read()


def channel_credentials(root_ca: PemArg, cert: PemArg = None, key: PemArg = None, *,
                        signer: Union[Signer, bytes, str, "os.PathLike[str]", None] = None,
                        node_id: Optional[str] = None, audience: Optional[str] = None,
                        token: Optional[str] = None, token_header: str = "authorization",
                        app_key: Optional[str] = None, app_secret: Optional[str] = None,
                        app_key_underscore: bool = False) -> grpc.ChannelCredentials:
    """TLS channel credentials plus one call credential per configured scheme (signature, token,
    app key; any combination). ``signer`` is a Signer, or PEM bytes / a path to a private key."""
    if (cert is None) != (key is None):
        raise ValueError("cert and key go together (mTLS) or not at all")
    tls = grpc.ssl_channel_credentials(_pem(root_ca), _pem(key), _pem(cert))
    call_creds = []
    if signer is not None or node_id is not None:
        if signer is None or not node_id or not audience:
            raise ValueError("a signed channel needs signer, node_id and audience (the called node's id)")
        if not isinstance(signer, Signer) and not hasattr(signer, "sign"):
            signer = load_signer(_pem(signer))
        call_creds.append(grpc.metadata_call_credentials(
            SignatureAuthPlugin(signer, node_id, audience), name="nodegate.signature.v1"))
    if token is not None:
        call_creds.append(grpc.metadata_call_credentials(TokenAuthPlugin(token, token_header),
                                                         name="nodegate.token"))
    if app_key is not None or app_secret is not None:
        if not app_key or not app_secret:
            raise ValueError("app_key and app_secret go together")
        call_creds.append(grpc.metadata_call_credentials(
            AppKeyAuthPlugin(app_key, app_secret, app_key_underscore), name="nodegate.app_key"))
    if not call_creds:
        return tls
    return grpc.composite_channel_credentials(tls, *call_creds)


def _options(server_name: Optional[str], options: Optional[Sequence]) -> list:
    opts = list(options or [])
    if server_name:
        opts.append(("grpc.ssl_target_name_override", server_name))
    return opts


def create_client_channel(target: str, root_ca: PemArg, cert: PemArg = None, key: PemArg = None, *,
                          server_name: Optional[str] = None, signer=None, node_id: Optional[str] = None,
                          audience: Optional[str] = None, token: Optional[str] = None,
                          token_header: str = "authorization", app_key: Optional[str] = None,
                          app_secret: Optional[str] = None, app_key_underscore: bool = False,
                          options: Optional[Sequence] = None) -> grpc.Channel:
    """A ``grpc.secure_channel`` to ``target`` (host:port). ``root_ca``/``cert``/``key``: PEM bytes or
    paths. ``server_name`` overrides the name checked against the server certificate."""
    creds = channel_credentials(root_ca, cert, key, signer=signer, node_id=node_id, audience=audience,
                                token=token, token_header=token_header, app_key=app_key,
                                app_secret=app_secret, app_key_underscore=app_key_underscore)
    return grpc.secure_channel(target, creds, options=_options(server_name, options))


def create_aio_client_channel(target: str, root_ca: PemArg, cert: PemArg = None, key: PemArg = None, *,
                              server_name: Optional[str] = None, signer=None,
                              node_id: Optional[str] = None, audience: Optional[str] = None,
                              token: Optional[str] = None, token_header: str = "authorization",
                              app_key: Optional[str] = None, app_secret: Optional[str] = None,
                              app_key_underscore: bool = False,
                              options: Optional[Sequence] = None) -> "grpc.aio.Channel":
    """The same as create_client_channel, for ``grpc.aio`` (create it inside the running event loop)."""
    creds = channel_credentials(root_ca, cert, key, signer=signer, node_id=node_id, audience=audience,
                                token=token, token_header=token_header, app_key=app_key,
                                app_secret=app_secret, app_key_underscore=app_key_underscore)
    return grpc.aio.secure_channel(target, creds, options=_options(server_name, options))
