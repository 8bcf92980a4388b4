"""SIP digest credentials (RFC 2617 / 3261): the HA1 a registrar checks, and new agent phone passwords."""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def ha1(username: str, realm: str, password: str) -> str:
    """MD5(username:realm:password) as lowercase hex: all a registrar needs to check a digest response."""
    # MD5 is what SIP phones speak (RFC 3261 digest); the HA1 is sealed by the vault at rest.
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def new_password(length: int = 20) -> str:
    """A random phone password (letters and digits: every phone's keypad settings page accepts them)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
