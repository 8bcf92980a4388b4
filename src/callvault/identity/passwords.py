"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import re
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from callvault.config import get_settings
from callvault.core.errors import InvalidInput

MIN_LENGTH = 12
HISTORY = 4


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    s = get_settings()
    return PasswordHasher(
        time_cost=s.argon2_time_cost,
        memory_cost=s.argon2_memory_kib,
        parallelism=s.argon2_parallelism,
        type=Type.ID,
    )


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("timing-equaliser-0")


def burn_verification_time() -> None:
    """Spend the time a real verification takes, so an unknown user cannot be told from a wrong password."""
    verify_password(_dummy_hash(), "not-the-password-1")


def check_policy(password: str, *, username: str, previous_hashes: list[str]) -> None:
    """Raise InvalidInput naming what is wrong with a new password."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput.one("password", f"must have at least {MIN_LENGTH} characters")
    if len(password) > 256:
        raise InvalidInput.one("password", "must have at most 256 characters")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise InvalidInput.one("password", "must contain letters and digits")
    if username and username.lower() in password.lower():
        raise InvalidInput.one("password", "must not contain the username")
    if any(verify_password(h, password) for h in previous_hashes[:HISTORY]):
        raise InvalidInput.one("password", f"must differ from the last {HISTORY} passwords")
