"""Blind index: a keyed HMAC-SHA256 of a normalised value for exact-match look-ups without decryption.

A plain hash of a phone number is brute-forced in minutes (there are only ~10**10 mobiles), so the index is
keyed per tenant: the same value in two tenants, or in two scopes of one tenant, gives unrelated indexes.
The index key is a separate tenant key (purpose INDEX) that is not rotated with the data key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable

from callvault.security.vault.framing import pack_parts
from callvault.security.vault.keyring import KeyPurpose, Keyring, TenantId

Normalizer = Callable[[str], str]

_NON_DIGITS = re.compile(r"\D")
_SPACES = re.compile(r"[\s\-]")


def normalize_phone(value: str) -> str:
    """Digits-only E.164 form; an 11-digit Chinese mobile without prefix gets +86, `00` becomes `+`."""
    v = unicodedata.normalize("NFKC", value).strip()
    plus = v.startswith("+")
    digits = _NON_DIGITS.sub("", v)
    if plus:
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if len(digits) == 11 and digits[0] == "1":
        return "+86" + digits
    if len(digits) == 13 and digits.startswith("861"):
        return "+" + digits
    return digits


def normalize_id_number(value: str) -> str:
    """Identity/passport numbers: NFKC, no spaces or dashes, upper case (checksum `x` -> `X`)."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", value)).upper()


def normalize_email(value: str) -> str:
    """E-mail addresses: trimmed and lower-cased."""
    return unicodedata.normalize("NFKC", value).strip().lower()


def normalize_text(value: str) -> str:
    """Generic text: NFKC, trimmed, case-folded, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


class BlindIndex:
    """Computes 32-byte blind indexes with the tenant's index key."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def compute(
        self, value: str, *, tenant_id: TenantId, scope: str, normalizer: Normalizer | None = normalize_text
    ) -> bytes:
        """Index `value` for look-ups in `scope` (e.g. ``"contact.phone"``) of one tenant."""
        normalized = normalizer(value) if normalizer is not None else value
        key = self._keyring.current(tenant_id, KeyPurpose.INDEX)
        return hmac.new(key.index_key, pack_parts(scope, normalized), hashlib.sha256).digest()

    def phone(self, value: str, *, tenant_id: TenantId, scope: str = "phone") -> bytes:
        """Index of a phone number (normalised with `normalize_phone`)."""
        return self.compute(value, tenant_id=tenant_id, scope=scope, normalizer=normalize_phone)

    def id_number(self, value: str, *, tenant_id: TenantId, scope: str = "id_number") -> bytes:
        """Index of an identity document number (normalised with `normalize_id_number`)."""
        return self.compute(value, tenant_id=tenant_id, scope=scope, normalizer=normalize_id_number)

    def matches(self, index: bytes, value: str, *, tenant_id: TenantId, scope: str, normalizer: Normalizer) -> bool:
        """Constant-time check that `index` is the index of `value`."""
        return hmac.compare_digest(index, self.compute(value, tenant_id=tenant_id, scope=scope, normalizer=normalizer))
