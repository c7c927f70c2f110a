"""Per-call signatures, wire format v1 (docs/auth.md; design §3).

String to sign (UTF-8, fields joined by ``\\n``, no trailing newline)::

    NODEGATE-SIG-V1
    <full method path, e.g. /api.DiceService/RollDie>
    <audience: the id of the node being called>
    <x-node-id>
    <x-node-timestamp>
    <x-node-nonce>

Algorithms (fixed by the key the server has registered for the calling node, never negotiated):

* ``ecdsa-p256-sha256`` — python3-cryptography, DER signature.
* ``ed25519`` — python3-cryptography, 64-byte signature.
* ``sm2-sm3`` — SM2 with SM3 and distinguishing ID ``1234567812345678``, DER signature, through the system
  libcrypto's EVP API via ctypes (cryptography 38 cannot load SM2 keys).
"""

from __future__ import annotations

import base64
import os
from typing import Optional, Union

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from . import _libcrypto
from ._libcrypto import SM2_DEFAULT_ID, LibcryptoError

DOMAIN = "NODEGATE-SIG-V1"

SM2_SM3 = "sm2-sm3"
ECDSA_P256_SHA256 = "ecdsa-p256-sha256"
ED25519 = "ed25519"
ALGORITHMS = (SM2_SM3, ECDSA_P256_SHA256, ED25519)

PemSource = Union[bytes, str, "os.PathLike[str]"]


# ----------------------------------------------------------------------------------------------
# Encoding


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of b64url_encode; refuses padding and characters outside the url-safe alphabet."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    if "=" in text or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def canonical_string(full_method: str, audience: str, node_id: str, timestamp_ms: str,
                     nonce: str) -> bytes:
    """The exact bytes a v1 signature covers. ``timestamp_ms`` and ``nonce`` are the header values as
    sent (decimal milliseconds; base64url text), not their decoded forms."""
    fields = [DOMAIN, full_method, audience, node_id, str(timestamp_ms), nonce]
    for name, value in zip(("full_method", "audience", "node_id", "timestamp_ms", "nonce"), fields[1:]):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be str, not {type(value).__name__}")
        if "\n" in value:
            raise ValueError(f"{name} must not contain a newline")
    if not full_method.startswith("/"):
        raise ValueError("full_method must be the full path, e.g. /api.DiceService/RollDie")
    return "\n".join(fields).encode("utf-8")


# ----------------------------------------------------------------------------------------------
# Signers


class Signer:
    """Signs with one private key. ``algorithm`` is the wire name registered for the node."""

    algorithm: str

    def sign(self, data: bytes) -> bytes:
        raise NotImplementedError

    def public_key_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM, what `nodegate node add --public-key` takes."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.algorithm}>"


class EcdsaP256Signer(Signer):
    algorithm = ECDSA_P256_SHA256

    def __init__(self, key: ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"ecdsa-p256-sha256 needs a P-256 key, not {key.curve.name}")
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(bytes(data), ec.ECDSA(hashes.SHA256()))  # DER

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)


class Ed25519Signer(Signer):
    algorithm = ED25519

    def __init__(self, key: ed25519.Ed25519PrivateKey):
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(bytes(data))

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _pem_wrap(label: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


class Sm2Sm3Signer(Signer):
    """SM2/SM3 through libcrypto.so.3 (ctypes). Thread-safe: each sign() has its own EVP contexts."""

    algorithm = SM2_SM3

    def __init__(self, key: "_libcrypto.EvpKey", distid: bytes = SM2_DEFAULT_ID):
        if not key.is_a("SM2"):
            raise ValueError("sm2-sm3 needs a key on curve SM2")
        self._key = key
        self._distid = bytes(distid)

    @classmethod
    def from_pem(cls, pem: bytes, password: Optional[bytes] = None) -> "Sm2Sm3Signer":
        return cls(_libcrypto.load_pem(pem, private=True, password=password))

    def sign(self, data: bytes) -> bytes:
        return _libcrypto.sm2_sign(self._key, data, self._distid)

    def public_key_pem(self) -> bytes:
        return _pem_wrap("PUBLIC KEY", self._key.public_der())


def _read_pem(source: PemSource) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    with open(source, "rb") as f:
        return f.read()


def load_signer(pem: PemSource, password: Optional[bytes] = None) -> Signer:
    """A Signer for a PEM private key (PKCS#8 as written by `nodegate keys gen`, or traditional EC).

    The algorithm follows from the key: P-256 → ecdsa-p256-sha256, Ed25519 → ed25519, an EC key on curve
    SM2 → sm2-sm3. ``pem`` is the PEM bytes or a path to the file. Raises ValueError for anything else.
    """
    data = _read_pem(pem)
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        # cryptography 38 refuses SM2-curve keys ("Unsupported key type"): ask libcrypto directly.
        try:
            evp = _libcrypto.load_pem(data, private=True, password=password)
        except LibcryptoError as sm2_exc:
            raise ValueError(f"cannot load the signing key: {exc}; libcrypto: {sm2_exc}") from None
        if evp.is_a("SM2"):
            return Sm2Sm3Signer(evp)
        raise ValueError(f"unsupported signing key ({exc}); supported: SM2 (sm2-sm3), "
                         "EC P-256 (ecdsa-p256-sha256), Ed25519 (ed25519)") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519Signer(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return EcdsaP256Signer(key)  # raises ValueError for other curves
    raise ValueError(f"unsupported signing key type {type(key).__name__}; supported: SM2 (sm2-sm3), "
                     "EC P-256 (ecdsa-p256-sha256), Ed25519 (ed25519)")


# ----------------------------------------------------------------------------------------------
# Verifiers (what the server does; handy for tests and for debugging a client)


class Verifier:
    algorithm: str

    def verify(self, signature: bytes, data: bytes) -> bool:
        raise NotImplementedError


class _CryptographyVerifier(Verifier):
    def __init__(self, algorithm: str, key):
        self.algorithm = algorithm
        self._key = key

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            if self.algorithm == ECDSA_P256_SHA256:
                self._key.verify(bytes(signature), bytes(data), ec.ECDSA(hashes.SHA256()))
            else:
                self._key.verify(bytes(signature), bytes(data))
            return True
        except InvalidSignature:
            return False


class Sm2Sm3Verifier(Verifier):
    algorithm = SM2_SM3

    def __init__(self, key: "_libcrypto.EvpKey", distid: bytes = SM2_DEFAULT_ID):
        if not key.is_a("SM2"):
            raise ValueError("sm2-sm3 needs a key on curve SM2")
        self._key = key
        self._distid = bytes(distid)

    def verify(self, signature: bytes, data: bytes) -> bool:
        return _libcrypto.sm2_verify(self._key, signature, data, self._distid)


def load_verifier(pem: PemSource) -> Verifier:
    """A Verifier for a SubjectPublicKeyInfo PEM public key (bytes or path)."""
    data = _read_pem(pem)
    try:
        key = serialization.load_pem_public_key(data)
    except (UnsupportedAlgorithm, ValueError) as exc:
        try:
            evp = _libcrypto.load_pem(data, private=False)
        except LibcryptoError as sm2_exc:
            raise ValueError(f"cannot load the public key: {exc}; libcrypto: {sm2_exc}") from None
        return Sm2Sm3Verifier(evp)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return _CryptographyVerifier(ED25519, key)
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return _CryptographyVerifier(ECDSA_P256_SHA256, key)
    raise ValueError(f"unsupported public key {type(key).__name__}")
