"""Data-minimising mode: customer details stay in the institution's system and are fetched live when shown.

Tenant setting::

    {"data_minimising": {"enabled": true, "lookup_url": "https://crm.bank.example/customers/{ref}",
                         "timeout_seconds": 3}}

Contacts of such an institution keep only the institution's reference id and the phone numbers needed to dial
(encrypted, with blind indexes); name, ID and card numbers and sensitive custom fields are never stored. Showing a
contact calls ``GET lookup_url`` with the reference, expecting ``{"name", "id_number", "card_number", "custom"}``
(all optional); the answer is masked and revealed by the same rules as stored values, and never cached.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Final

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from callvault.core.errors import DomainError, InvalidInput

log = structlog.get_logger(__name__)

SETTING: Final = "data_minimising"
MAX_RESPONSE_BYTES: Final = 64 * 1024
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class LiveLookupFailed(DomainError):
    status = 502
    code = "institution-system-unavailable"
    title = "Institution system unavailable"


class LiveDetails(BaseModel):
    """What the institution's system answers for one reference (unknown keys are ignored)."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(default="", max_length=200)
    id_number: str = Field(default="", max_length=64)
    card_number: str = Field(default="", max_length=32)
    custom: dict[str, str] = Field(default_factory=dict, max_length=50)


class _Setting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    lookup_url: str = Field(default="", max_length=500)
    timeout_seconds: float = Field(default=3.0, gt=0, le=30)


@dataclass(frozen=True, slots=True)
class Minimising:
    lookup_url: str
    timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Minimising | None:
        """The tenant's mode, or None when off; a malformed setting raises `InvalidInput` naming it."""
        raw = settings.get(SETTING)
        if raw is None:
            return None
        try:
            setting = _Setting.model_validate(raw)
        except ValidationError:
            raise InvalidInput.one(SETTING, "expects enabled, lookup_url and timeout_seconds") from None
        if not setting.enabled:
            return None
        url = urllib.parse.urlsplit(setting.lookup_url)
        # Customer data only over TLS; plain HTTP is allowed to a system on the same host.
        if "{ref}" not in url.path or not (
            url.scheme == "https" or (url.scheme == "http" and url.hostname in _LOOPBACK)
        ):
            raise InvalidInput.one(f"{SETTING}.lookup_url", "must be an https URL with {ref} in its path")
        return cls(setting.lookup_url, setting.timeout_seconds)

    def fetch(self, external_ref: str) -> LiveDetails:
        """Ask the institution's system for one customer's details; failures raise `LiveLookupFailed`."""
        url = self.lookup_url.replace("{ref}", urllib.parse.quote(external_ref, safe=""))
        # The scheme was checked in `from_settings` (https, or http to loopback).
        request = urllib.request.Request(url, headers={"Accept": "application/json"}, method="GET")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            log.warning("live customer look-up refused", status=exc.code)
            if exc.code == 404:
                raise LiveLookupFailed("the institution's system does not know this customer") from None
            raise LiveLookupFailed(f"the institution's system answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            log.warning("live customer look-up failed", error=type(exc).__name__)
            raise LiveLookupFailed("the institution's system did not answer") from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise LiveLookupFailed("the institution's system answered too much")
        try:
            return LiveDetails.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            raise LiveLookupFailed("the institution's system answered something other than customer details") from None
