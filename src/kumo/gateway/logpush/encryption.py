"""Cloudflare's Logpush encryption for AI Gateway: per log, a fresh AES-256-GCM key seals the data and the
gateway's RSA public key seals that key (OAEP with SHA-256). A sealed field is
{"type": "encrypted", "key": b64(RSA(aes key)), "iv": b64(12 bytes), "data": b64(ciphertext + tag)},
which Cloudflare's decryption script (Node's privateDecrypt with oaepHash SHA256, then WebCrypto AES-GCM) opens."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MIN_BITS, MAX_BITS = 2048, 8192  # above: each log's sealing would cost the log thread more than it is worth
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """The RSA public key of a PEM (SPKI `BEGIN PUBLIC KEY`, or PKCS#1 `BEGIN RSA PUBLIC KEY`); ValueError saying
    what is wrong otherwise."""
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm):
        raise ValueError("not a PEM public key (expected -----BEGIN PUBLIC KEY----- ... as `openssl rsa -pubout` "
                         "or Node's generateKeyPairSync('rsa', {publicKeyEncoding: {type: 'spki', format: 'pem'}}) "
                         "write it)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("Logpush encrypts with RSA-OAEP: the key must be an RSA public key")
    if not MIN_BITS <= key.key_size <= MAX_BITS or key.public_numbers().e >= 1 << 32:
        raise ValueError(f"the RSA key has {key.key_size} bits (exponent {key.public_numbers().e}); Logpush takes "
                         f"{MIN_BITS} to {MAX_BITS} bits with a usual exponent such as 65537")
    return key


def validate(pem: object) -> str | None:
    """The setting as stored: None/"" (off) or a PEM that loads."""
    if pem is None or pem == "":
        return None
    if not isinstance(pem, str):
        raise ValueError("must be a PEM string")
    load_public_key(pem)
    return pem


class Envelope:
    """One log's AES key (Cloudflare: "an AES key is generated for each log"), sealed to the RSA key once; each
    field sealed with it gets an IV of its own."""

    def __init__(self, key: rsa.RSAPublicKey):
        aes_key = AESGCM.generate_key(bit_length=256)
        self._aes = AESGCM(aes_key)
        self._sealed_key = _b64(key.encrypt(aes_key, _OAEP))

    def seal(self, plaintext: bytes) -> dict[str, str]:
        iv = os.urandom(12)
        return {"type": "encrypted", "key": self._sealed_key, "iv": _b64(iv),
                "data": _b64(self._aes.encrypt(iv, plaintext, None))}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
