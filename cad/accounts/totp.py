"""Time-based one-time passwords (RFC 6238, HOTP of RFC 4226 underneath), standard library only.

SHA-1, 6 digits and a 30-second step: what every authenticator app defaults to. Pure functions;
the device model, replay protection and lockout live in cad/accounts/second_factor.py.
"""

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
# Accept the previous and next step too: phone clocks drift and people type slowly.
DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits (RFC 4226 recommends at least 128), base32 without padding."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret_b32: str) -> bytes:
    cleaned = secret_b32.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest=hashlib.sha1) -> str:
    """RFC 4226 section 5.3: HMAC the 8-byte counter, dynamic truncation, last `digits` digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def time_step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // STEP_SECONDS)


def totp(secret_b32: str, *, at: float | None = None) -> str:
    """The code an authenticator shows at Unix time `at` (now if omitted)."""
    return hotp(_key(secret_b32), time_step(at))


def matching_step(secret_b32: str, code: str, *, at: float | None = None) -> int | None:
    """The time step whose code equals `code` within the allowed drift, or None."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    key = _key(secret_b32)
    now = time_step(at)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def provisioning_uri(secret_b32: str, *, account: str, issuer: str = "Beacon CAD") -> str:
    """The otpauth:// URI authenticator apps read (from a QR code or pasted)."""
    label = quote(f"{issuer}:{account}")
    query = urlencode({"secret": secret_b32, "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": STEP_SECONDS})  # fmt: skip
    return f"otpauth://totp/{label}?{query}"
