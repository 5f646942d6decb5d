"""RSA keys and SHA256withRSA (RSA2), which WeChat Pay v3 and Alipay both sign with."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


@dataclass(frozen=True, slots=True)
class KeyPair:
    """PEM text of a private key (PKCS#8) and its public key (SubjectPublicKeyInfo)."""

    private_pem: str
    public_pem: str


def generate(bits: int = 2048) -> KeyPair:
    """A new key pair: for sandboxes and tests, which play both sides of a provider."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private.decode(), public.decode())


def load_private(pem: str) -> rsa.RSAPrivateKey:
    """A private key from PEM (PKCS#1 or PKCS#8); ``ValueError`` if it is not an RSA key."""
    key = serialization.load_pem_private_key(_pem(pem, "PRIVATE KEY").encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public(pem: str) -> rsa.RSAPublicKey:
    """A public key from PEM, or from the bare base64 body Alipay's console shows."""
    key = serialization.load_pem_public_key(_pem(pem, "PUBLIC KEY").encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64: the signature both providers use."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _pem(text: str, label: str) -> str:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text
    body = "".join(text.split())
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"
