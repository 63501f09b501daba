"""TOTP secrets at rest: encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from the
`cryptography` package) under keys from the environment, never stored in the clear.

TOTP_ENCRYPTION_KEYS holds one or more Fernet keys, newest first. MultiFernet encrypts with the
newest and decrypts with any, so rotating is: put a new key in front, run
`manage.py rotate_totp_keys` (re-encrypts every secret under it), then drop the old key.
The keys live in the environment, not the database, so a copy of the database alone (a backup,
a read replica, an SQL injection) does not give away anyone's second factor.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _box(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:  # not 32 url-safe base64-encoded bytes
        raise ImproperlyConfigured(f"TOTP_ENCRYPTION_KEYS: not a Fernet key ({exc})") from None


def box() -> MultiFernet:
    """The MultiFernet for the keys configured now (tests change them)."""
    return _box(tuple(settings.TOTP_ENCRYPTION_KEYS))


def secret_encrypt(secret: str) -> str:
    return box().encrypt(secret.encode("ascii")).decode("ascii")


def secret_decrypt(token: str) -> str:
    """The base32 secret. Raises InvalidToken when no configured key opens it (a key dropped
    before `rotate_totp_keys` ran, or a row from another installation)."""
    return box().decrypt(token.encode("ascii")).decode("ascii")


def secret_rotate(token: str) -> str:
    """The same secret, encrypted under the newest key."""
    return box().rotate(token.encode("ascii")).decode("ascii")


__all__ = ["InvalidToken", "secret_decrypt", "secret_encrypt", "secret_rotate"]
