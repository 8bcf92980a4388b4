"""Console pages of the audit trail (paged, filtered by time and action) and its export (audit.jsonl).

The export is the same JSON Lines file as `GET /api/v1/audit` (docs/audit-verification.md) and is itself audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi.responses import Response, StreamingResponse

from callvault.api import get_db
from callvault.core import clock
from callvault.core.errors import FieldError
from callvault.security import audit_browse, audit_export
from callvault.web.console import NO_STORE, Console, allowed, console_router
from callvault.web.forms import utc_time

router = console_router()
PAGE_SIZE = 50


@router.get("/audit")
def audit_page(
    console: Annotated[Console, allowed("audit.read")],
    since: str = "",
    until: str = "",
    action: str = "",
    before: int | None = None,
) -> Response:
    errors: list[FieldError] = []
    start, end = utc_time("since", since[:40], errors), utc_time("until", until[:40], errors)
    page = audit_browse.browse(
        console.session,
        actor=console.principal,
        since=start,
        until=end,
        action=action[:80].strip() or None,
        before_seq=before,
        limit=PAGE_SIZE,
    )
    return console.render(
        "audit.html",
        status=422 if errors else 200,
        rows=page.rows,
        next_before=page.next_before_seq,
        filters={"since": since, "until": until, "action": action},
        errors=errors,
    )


@router.get("/audit/export")
def audit_download(console: Annotated[Console, allowed("audit.read")], since: str = "", until: str = "") -> Response:
    errors: list[FieldError] = []
    start, end = utc_time("since", since[:40], errors), utc_time("until", until[:40], errors)
    if errors:
        return audit_page(console, since=since, until=until)
    window = audit_export.begin_export(
        console.session, actor=console.principal, since=start, until=end, channel="console"
    )
    db = get_db(console.request)

    def lines() -> Iterator[bytes]:
        for item in audit_export.stream_records(db, window):
            yield audit_export.jsonl_line(item)

    name = f"audit-{console.principal.tenant_slug}-{clock.now():%Y%m%dT%H%M%S}.jsonl"
    headers = {
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="{name}"',
        "CallVault-Audit-First-Seq": str(window.first_seq),
        "CallVault-Audit-Last-Seq": str(window.last_seq),
    }
    return StreamingResponse(lines(), media_type="application/jsonl", headers=headers)
