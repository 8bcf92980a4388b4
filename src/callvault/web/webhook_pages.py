"""Console pages of webhooks: deliveries that failed every attempt (dead letters) and their manual redelivery.

Redelivery keeps the webhook-id (receivers deduplicate on it) and starts a fresh round of attempts; it is audited
by the action function, as through the API.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi.responses import Response

from callvault.core.errors import Conflict
from callvault.web.console import Console, allowed, console_router, object_id, see_other
from callvault.webhooks import service as webhooks

router = console_router()
PAGE_SIZE: Final = 50


@router.get("/webhooks")
def dead_letters_page(console: Annotated[Console, allowed(webhooks.MANAGE)], cursor: str | None = None) -> Response:
    return _dead_letters(console, cursor=cursor)


def _dead_letters(console: Console, *, cursor: str | None = None, conflict: bool = False) -> Response:
    page = webhooks.list_dead_letters(console.session, actor=console.principal, limit=PAGE_SIZE, cursor=cursor)
    return console.render(
        "webhooks.html",
        status=409 if conflict else 200,
        deliveries=page.items,
        next_cursor=page.next_cursor,
        conflict=conflict,
    )


@router.post("/webhooks/{delivery_id}/redeliver")
def redeliver(delivery_id: str, console: Annotated[Console, allowed(webhooks.MANAGE)]) -> Response:
    try:
        webhooks.redeliver(console.session, actor=console.principal, delivery_id=object_id(delivery_id))
    except Conflict:
        # Already redelivered (say from another tab): the list shows what is still dead.
        console.session.rollback()
        return _dead_letters(console, conflict=True)
    return see_other("/console/webhooks", notice="redelivery-queued")
