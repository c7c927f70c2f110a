"""nodegate_client: call nodegate nodes from Python (grpcio) with per-call node signatures (wire format v1:
sm2-sm3, ecdsa-p256-sha256, ed25519), tokens or app keys, over TLS / mTLS."""

from .auth import AppKeyAuthPlugin, SignatureAuthPlugin, TokenAuthPlugin, full_method
from .channel import channel_credentials, create_aio_client_channel, create_client_channel
from .signing import (ALGORITHMS, ECDSA_P256_SHA256, ED25519, SM2_SM3, Signer, Verifier,
                      b64url_decode, b64url_encode, canonical_string, load_signer, load_verifier)

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS", "ECDSA_P256_SHA256", "ED25519", "SM2_SM3",
    "AppKeyAuthPlugin", "SignatureAuthPlugin", "TokenAuthPlugin", "full_method",
    "Signer", "Verifier", "b64url_decode", "b64url_encode", "canonical_string", "load_signer",
    "load_verifier",
    "channel_credentials", "create_aio_client_channel", "create_client_channel",
]
