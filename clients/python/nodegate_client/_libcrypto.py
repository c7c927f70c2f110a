"""SM2 with SM3 through the system libcrypto (OpenSSL 3) EVP API, via ctypes.

python3-cryptography 38 has no SM2, so this module binds the handful of EVP functions needed to load an
SM2 key from PEM, sign (and verify) with SM3 and the distinguishing ID, in-process: no subprocess per call.

Every OpenSSL object is owned by exactly one Python object or freed in a ``finally`` in the function that
made it. An ``EVP_PKEY`` is only read after loading, so one key may sign from many threads at once; every
signature uses its own ``EVP_MD_CTX``/``EVP_PKEY_CTX`` pair.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Optional

# GB/T 32918 / GM/T 0009 default distinguishing ID; design §3 fixes it for sm2-sm3.
SM2_DEFAULT_ID = b"1234567812345678"

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_load_error: Optional[str] = None

_PEM_PASSWORD_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_char), ctypes.c_int,
                                    ctypes.c_int, ctypes.c_void_p)


class LibcryptoError(RuntimeError):
    """An OpenSSL call failed; the message carries OpenSSL's error queue (never key material)."""


def _bind(lib: ctypes.CDLL) -> None:
    p, i, sz, ul = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_ulong

    def fn(name, restype, *argtypes):
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = list(argtypes)

    fn("OpenSSL_version_num", ul)
    fn("BIO_new_mem_buf", p, p, i)
    fn("BIO_free", i, p)
    fn("PEM_read_bio_PrivateKey", p, p, p, _PEM_PASSWORD_CB, p)
    fn("PEM_read_bio_PUBKEY", p, p, p, _PEM_PASSWORD_CB, p)
    fn("EVP_PKEY_free", None, p)
    fn("EVP_PKEY_is_a", i, p, ctypes.c_char_p)
    fn("i2d_PUBKEY", i, p, ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)))
    fn("EVP_MD_CTX_new", p)
    fn("EVP_MD_CTX_free", None, p)
    fn("EVP_MD_CTX_set_pkey_ctx", None, p, p)
    fn("EVP_PKEY_CTX_new", p, p, p)
    fn("EVP_PKEY_CTX_free", None, p)
    fn("EVP_PKEY_CTX_set1_id", i, p, p, i)
    fn("EVP_sm3", p)
    fn("EVP_DigestSignInit", i, p, p, p, p, p)
    fn("EVP_DigestSign", i, p, p, ctypes.POINTER(sz), p, sz)
    fn("EVP_DigestVerifyInit", i, p, p, p, p, p)
    fn("EVP_DigestVerify", i, p, p, sz, p, sz)
    fn("ERR_get_error", ul)
    fn("ERR_error_string_n", None, ul, ctypes.c_char_p, sz)
    fn("ERR_clear_error", None)


def libcrypto() -> ctypes.CDLL:
    """The system libcrypto.so.3 with the prototypes above, loaded once. Raises LibcryptoError."""
    global _lib, _load_error
    with _lock:
        if _lib is not None:
            return _lib
        if _load_error is not None:
            raise LibcryptoError(_load_error)
        candidates = ["libcrypto.so.3"]
        found = ctypes.util.find_library("crypto")
        if found and found not in candidates:
            candidates.append(found)
        errors = []
        for name in candidates:
            try:
                lib = ctypes.CDLL(name)
                _bind(lib)
            except (OSError, AttributeError) as exc:
                errors.append(f"{name}: {exc}")
                continue
            if lib.OpenSSL_version_num() < 0x30000000:
                errors.append(f"{name}: OpenSSL older than 3.0")
                continue
            _lib = lib
            return lib
        _load_error = "sm2-sm3 needs the system OpenSSL 3 libcrypto (libcrypto.so.3): " + "; ".join(errors)
        raise LibcryptoError(_load_error)


def available() -> bool:
    try:
        libcrypto()
        return True
    except LibcryptoError:
        return False


def _error(lib: ctypes.CDLL, what: str) -> LibcryptoError:
    """Drains this thread's OpenSSL error queue into an exception."""
    reasons = []
    while True:
        code = lib.ERR_get_error()
        if code == 0:
            break
        buf = ctypes.create_string_buffer(256)
        lib.ERR_error_string_n(code, buf, len(buf))
        reasons.append(buf.value.decode("ascii", "replace"))
    return LibcryptoError(what + (": " + "; ".join(reasons) if reasons else ""))


def _password_callback(password: Optional[bytes]):
    def cb(buf, size, _rwflag, _userdata):
        if password is None or len(password) > size:
            return -1  # no prompt on a terminal, ever: an encrypted key without a password fails
        ctypes.memmove(buf, password, len(password))
        return len(password)

    return _PEM_PASSWORD_CB(cb)


class EvpKey:
    """An owned EVP_PKEY*."""

    def __init__(self, lib: ctypes.CDLL, ptr: int):
        self._lib = lib
        self.ptr = ptr

    def __del__(self):
        ptr, self.ptr = getattr(self, "ptr", None), None
        if ptr:
            self._lib.EVP_PKEY_free(ptr)

    def is_a(self, name: str) -> bool:
        return self._lib.EVP_PKEY_is_a(self.ptr, name.encode("ascii")) == 1

    def public_der(self) -> bytes:
        lib = self._lib
        n = lib.i2d_PUBKEY(self.ptr, None)
        if n <= 0:
            raise _error(lib, "i2d_PUBKEY failed")
        buf = (ctypes.c_ubyte * n)()
        cursor = ctypes.cast(buf, ctypes.POINTER(ctypes.c_ubyte))  # i2d advances its copy
        if lib.i2d_PUBKEY(self.ptr, ctypes.byref(cursor)) != n:
            raise _error(lib, "i2d_PUBKEY failed")
        return bytes(buf)


def load_pem(pem: bytes, *, private: bool, password: Optional[bytes] = None) -> EvpKey:
    """PEM (PKCS#8 / SubjectPublicKeyInfo / traditional) → EvpKey. Raises LibcryptoError."""
    lib = libcrypto()
    pem = bytes(pem)
    lib.ERR_clear_error()
    bio = lib.BIO_new_mem_buf(pem, len(pem))
    if not bio:
        raise _error(lib, "BIO_new_mem_buf failed")
    cb = _password_callback(password)
    try:
        read = lib.PEM_read_bio_PrivateKey if private else lib.PEM_read_bio_PUBKEY
        ptr = read(bio, None, cb, None)
        if not ptr:
            raise _error(lib, "cannot read the PEM " + ("private" if private else "public") + " key")
        return EvpKey(lib, ptr)
    finally:
        lib.BIO_free(bio)


def _digest_ctx(lib: ctypes.CDLL, key: EvpKey, distid: bytes):
    """EVP_MD_CTX with an EVP_PKEY_CTX carrying the SM2 distinguishing ID attached (OpenSSL's SM2(7)
    recipe). EVP_MD_CTX_set_pkey_ctx does not take ownership: the caller frees both."""
    mctx = lib.EVP_MD_CTX_new()
    if not mctx:
        raise _error(lib, "EVP_MD_CTX_new failed")
    pctx = lib.EVP_PKEY_CTX_new(key.ptr, None)
    if not pctx:
        lib.EVP_MD_CTX_free(mctx)
        raise _error(lib, "EVP_PKEY_CTX_new failed")
    if lib.EVP_PKEY_CTX_set1_id(pctx, distid, len(distid)) <= 0:
        lib.EVP_MD_CTX_free(mctx)
        lib.EVP_PKEY_CTX_free(pctx)
        raise _error(lib, "EVP_PKEY_CTX_set1_id failed")
    lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
    return mctx, pctx


def sm2_sign(key: EvpKey, data: bytes, distid: bytes = SM2_DEFAULT_ID) -> bytes:
    """SM2 signature over SM3(Z_A || data), DER-encoded (SEQUENCE of r, s)."""
    lib = key._lib
    data = bytes(data)
    lib.ERR_clear_error()
    mctx, pctx = _digest_ctx(lib, key, distid)
    try:
        if lib.EVP_DigestSignInit(mctx, None, lib.EVP_sm3(), None, key.ptr) != 1:
            raise _error(lib, "sm2-sm3 sign: EVP_DigestSignInit failed")
        siglen = ctypes.c_size_t(0)
        if lib.EVP_DigestSign(mctx, None, ctypes.byref(siglen), data, len(data)) != 1:
            raise _error(lib, "sm2-sm3 sign: EVP_DigestSign (size) failed")
        sig = ctypes.create_string_buffer(siglen.value)
        if lib.EVP_DigestSign(mctx, sig, ctypes.byref(siglen), data, len(data)) != 1:
            raise _error(lib, "sm2-sm3 sign: EVP_DigestSign failed")
        return sig.raw[: siglen.value]
    finally:
        lib.EVP_MD_CTX_free(mctx)
        lib.EVP_PKEY_CTX_free(pctx)


def sm2_verify(key: EvpKey, signature: bytes, data: bytes, distid: bytes = SM2_DEFAULT_ID) -> bool:
    lib = key._lib
    signature, data = bytes(signature), bytes(data)
    lib.ERR_clear_error()
    mctx, pctx = _digest_ctx(lib, key, distid)
    try:
        if lib.EVP_DigestVerifyInit(mctx, None, lib.EVP_sm3(), None, key.ptr) != 1:
            raise _error(lib, "sm2-sm3 verify: EVP_DigestVerifyInit failed")
        ok = lib.EVP_DigestVerify(mctx, signature, len(signature), data, len(data)) == 1
        lib.ERR_clear_error()  # a bad signature leaves reasons on the queue
        return ok
    finally:
        lib.EVP_MD_CTX_free(mctx)
        lib.EVP_PKEY_CTX_free(pctx)
