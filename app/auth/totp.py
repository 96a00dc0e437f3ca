"""Time-based one-time passwords (TOTP, RFC 6238) for staff two-factor login (S-A10).

30-second steps, 6 digits, one step of clock drift either way. A code is accepted once: the step it
belongs to is remembered (`totp_last_step`) and that step or any earlier one is refused afterwards.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Any

import pyotp
import segno

ISSUER = "Tsunagu"
DIGITS = 6
INTERVAL = 30
VALID_WINDOW = 1
_CODE = re.compile(r"\d{6}")


def new_secret() -> str:
    """A random base32 shared key (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account_name: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(name=account_name,
                                                                                  issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """The otpauth:// URI as an SVG QR code in a data: URI (made here; no external service sees the key)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def grouped(secret: str) -> str:
    """The key in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def normalise(code: str | None) -> str:
    return re.sub(r"[\s\-]", "", code or "")


def matching_step(secret: str, code: str | None, now: float | None = None) -> int | None:
    """The time step `code` is valid for (current step ± VALID_WINDOW), or None."""
    code = normalise(code)
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    current = int((time.time() if now is None else now) // INTERVAL)
    for step in (current, current - VALID_WINDOW, current + VALID_WINDOW):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def consume(account: Any, code: str | None, secret: str | None = None, now: float | None = None) -> bool:
    """Check a code against the account's key and mark its step used. False for a wrong or reused code."""
    key = secret or account.totp_secret
    if not key:
        return False
    step = matching_step(key, code, now)
    if step is None or (account.totp_last_step is not None and step <= account.totp_last_step):
        return False
    account.totp_last_step = step
    return True
