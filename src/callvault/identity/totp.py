"""TOTP second factor (RFC 6238) with replay protection: a code's time step can be used once."""

from __future__ import annotations

import hmac

import pyotp

from callvault.core import clock

STEP_SECONDS = 30
ISSUER = "CallVault"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def current_step() -> int:
    return int(clock.now().timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, *, last_used_step: int) -> int | None:
    """The time step `code` belongs to (one step of drift either way), or None; steps already used never match."""
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step_now = current_step()
    found = None
    for step in (step_now - 1, step_now, step_now + 1):
        # Compare every candidate so the time taken does not depend on which one matched.
        if hmac.compare_digest(totp.generate_otp(step), code) and step > last_used_step:
            found = step
    return found
