"""geoapi.crypto: Fernet encryption at rest, keyed by configuration or derived from the secret."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet

from geoapi.config import ConfigError, Settings
from geoapi.crypto import DecryptionError, decrypt, derive_key, encrypt, fernet_for

TOKEN = "MLY|102153268628347|a-very-secret-token"


def test_round_trip_with_a_configured_key() -> None:
    settings = Settings(encryption_key=Fernet.generate_key().decode())
    first, second = encrypt(settings, TOKEN), encrypt(settings, TOKEN)
    assert decrypt(settings, first) == decrypt(settings, second) == TOKEN
    assert first != second  # a fresh IV every time: equal tokens do not look equal at rest
    assert TOKEN.encode() not in first
    assert b"a-very-secret" not in base64.urlsafe_b64decode(first)


def test_configured_key_is_used_not_the_secret_key() -> None:
    key = Fernet.generate_key()
    settings = Settings(secret_key="one", encryption_key=key.decode())
    assert Fernet(key).decrypt(encrypt(settings, TOKEN)).decode() == TOKEN
    with pytest.raises(DecryptionError):
        decrypt(Settings(secret_key="one"), encrypt(settings, TOKEN))


def test_key_derived_from_the_secret_key_when_none_is_configured() -> None:
    settings = Settings(secret_key="s3cret", encryption_key="")
    stored = encrypt(settings, TOKEN)
    assert decrypt(Settings(secret_key="s3cret"), stored) == TOKEN
    assert Fernet(derive_key("s3cret")).decrypt(stored).decode() == TOKEN
    with pytest.raises(DecryptionError, match="key changed"):
        decrypt(Settings(secret_key="another"), stored)


def test_derived_key_is_stable_distinct_and_not_the_secret_itself() -> None:
    key = derive_key("s3cret")
    assert key == derive_key("s3cret") != derive_key("s3cret ")
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert b"s3cret" not in base64.urlsafe_b64decode(key)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        derive_key("")


def test_key_rotation_first_key_encrypts_all_keys_decrypt() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored_with_old = encrypt(Settings(encryption_key=old), TOKEN)
    rotated = Settings(encryption_key=f"{new}, {old}")
    assert decrypt(rotated, stored_with_old) == TOKEN
    assert decrypt(Settings(encryption_key=new), encrypt(rotated, TOKEN)) == TOKEN
    with pytest.raises(DecryptionError):
        decrypt(Settings(encryption_key=new), stored_with_old)


@pytest.mark.parametrize("bad", ["not-a-key", "c2hvcnQ=", f"{Fernet.generate_key().decode()},x"])
def test_malformed_configured_key_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="GEOAPI_ENCRYPTION_KEY"):
        fernet_for(Settings(encryption_key=bad))


def test_tampered_ciphertext_is_refused() -> None:
    settings = Settings(secret_key="s3cret")
    stored = bytearray(base64.urlsafe_b64decode(encrypt(settings, TOKEN)))
    stored[-40] ^= 1
    with pytest.raises(DecryptionError):
        decrypt(settings, base64.urlsafe_b64encode(bytes(stored)))


def test_decrypt_accepts_memoryview_as_psycopg2_returns_bytea() -> None:
    settings = Settings(secret_key="s3cret")
    assert decrypt(settings, memoryview(encrypt(settings, TOKEN))) == TOKEN
