"""Encryption at rest for secrets we must read back (Mapillary tokens): Fernet (AES-128-CBC + HMAC).

The key is ``settings.encryption_key`` (urlsafe base64 of 32 bytes, as ``Fernet.generate_key()``
prints). Several comma-separated keys rotate: the first encrypts, every one decrypts. When the
setting is empty the key is derived from ``settings.secret_key`` with HKDF-SHA256, so changing
the secret key makes stored tokens unreadable (users then link their account again).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from geoapi.config import ConfigError, Settings

HKDF_SALT = b"geoapi/crypto/v1"
HKDF_INFO = b"geoapi token encryption"


class DecryptionError(ValueError):
    """Stored ciphertext cannot be read with the configured keys (key changed, or tampered)."""


def derive_key(secret_key: str) -> bytes:
    """A Fernet key (urlsafe base64, 32 bytes) derived from the app secret by HKDF-SHA256."""
    if not secret_key:
        raise ConfigError("GEOAPI_SECRET_KEY (or GEOAPI_ENCRYPTION_KEY) must be set")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


def fernet_for(settings: Settings) -> MultiFernet:
    """The Fernet for ``settings``: the configured key(s), or one derived from the secret key."""
    if not settings.encryption_key.strip():
        return MultiFernet([Fernet(derive_key(settings.secret_key))])
    keys = [part.strip() for part in settings.encryption_key.split(",") if part.strip()]
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            raise ConfigError(
                f"GEOAPI_ENCRYPTION_KEY: key {position} is not a Fernet key "
                "(urlsafe base64 of 32 bytes, e.g. from Fernet.generate_key())"
            ) from None
    return MultiFernet(fernets)


def encrypt(settings: Settings, plaintext: str) -> bytes:
    """Encrypt (and authenticate) ``plaintext`` with the current key; a fresh IV every call."""
    return fernet_for(settings).encrypt(plaintext.encode())


def decrypt(settings: Settings, ciphertext: bytes | memoryview) -> str:
    """Decrypt what :func:`encrypt` produced with any configured key; DecryptionError otherwise."""
    try:
        return fernet_for(settings).decrypt(bytes(ciphertext)).decode()
    except InvalidToken:
        raise DecryptionError(
            "a stored secret cannot be decrypted: the encryption key changed or the data was "
            "altered"
        ) from None
