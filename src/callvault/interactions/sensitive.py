"""The encrypted columns of call records (see `callvault.security.sensitive`).

Leg numbers share the contacts' phone blind-index scope, so "every call with this customer" is one index look-up
that also matches the customer's contact record and do-not-call entries.
"""

from __future__ import annotations

from typing import Final

from callvault.contacts.sensitive import PHONE_SCOPE
from callvault.security.masking import DataClass
from callvault.security.sensitive import SensitiveColumn

REVEAL: Final = "contact.reveal"
LEGS: Final = "interaction_legs"

REMOTE_NUMBER: Final = SensitiveColumn(
    LEGS, "remote_number", "remote_number_ct", DataClass.PHONE, REVEAL, "remote_number_bidx", PHONE_SCOPE
)
LOCAL_NUMBER: Final = SensitiveColumn(LEGS, "local_number", "local_number_ct", DataClass.PHONE, REVEAL)
# A JSON object ({"text": ...}) like the lists' sensitive custom fields, so export and masking treat it as one.
NOTES: Final = SensitiveColumn("interactions", "notes", "notes_ct", None, REVEAL)

INTERACTION_COLUMNS: Final = (REMOTE_NUMBER, LOCAL_NUMBER, NOTES)
