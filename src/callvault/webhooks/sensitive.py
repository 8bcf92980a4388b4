"""The encrypted column of the webhooks domain (see `callvault.security.sensitive`)."""

from __future__ import annotations

from typing import Final

from callvault.security.sensitive import SensitiveColumn

REVEAL: Final = "webhook.manage"
# A JSON document (a call result with keypresses): no masking rule of its own.
BODY: Final = SensitiveColumn("webhook_deliveries", "body", "body_ct", None, REVEAL)

WEBHOOK_COLUMNS: Final = (BODY,)
