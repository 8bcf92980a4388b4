"""The encrypted column of the SIP edge (see `callvault.security.sensitive`)."""

from __future__ import annotations

from typing import Final

from callvault.security.sensitive import SensitiveColumn

REVEAL: Final = "sip.manage"
# An agent phone's digest HA1: a credential, not personal data, so no masking rule; never revealed through the API.
HA1: Final = SensitiveColumn("sip_endpoints", "ha1", "ha1_ct", None, REVEAL)

SIP_COLUMNS: Final = (HA1,)
