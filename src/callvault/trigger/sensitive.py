"""The encrypted columns of the trigger domain (see `callvault.security.sensitive`)."""

from __future__ import annotations

from typing import Final

from callvault.security.masking import DataClass
from callvault.security.sensitive import SensitiveColumn

REVEAL: Final = "call.trigger"
TABLE: Final = "call_requests"
PHONE: Final = SensitiveColumn(TABLE, "phone", "phone_ct", DataClass.PHONE, REVEAL)
# JSON objects: the institution's variables for the flow, and the keys the callee pressed.
VARIABLES: Final = SensitiveColumn(TABLE, "variables", "variables_ct", None, REVEAL)
KEYPRESSES: Final = SensitiveColumn(TABLE, "keypresses", "keypresses_ct", None, REVEAL)

TRIGGER_COLUMNS: Final = (PHONE, VARIABLES, KEYPRESSES)
