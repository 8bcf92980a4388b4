"""The encrypted columns of the do-not-call domain (see `callvault.security.sensitive`).

Numbers share the contacts' blind-index scope, so one index per number serves list dedupe and DNC look-ups.
Both are legal records: retention periods do not purge them (a DNC entry lasts until it expires or is removed,
consent evidence as long as the consent may be relied on).
"""

from __future__ import annotations

from typing import Final

from callvault.contacts.sensitive import PHONE_SCOPE
from callvault.security.masking import DataClass
from callvault.security.sensitive import SensitiveColumn

REVEAL: Final = "dnc.manage"
DNC_PHONE: Final = SensitiveColumn(
    "dnc_entries", "phone", "phone_ct", DataClass.PHONE, REVEAL, "phone_bidx", PHONE_SCOPE, retention=False
)
CONSENT_PHONE: Final = SensitiveColumn(
    "consent_records", "phone", "phone_ct", DataClass.PHONE, REVEAL, "phone_bidx", PHONE_SCOPE, retention=False
)

DNC_COLUMNS: Final = (DNC_PHONE, CONSENT_PHONE)
