"""Console pages of call records: search by time, queue, disposition and state; one record with its legs; and
stream-only playback of its recordings.

Numbers are shown masked, as the API returns them. Playback asks for a reason first; the page then shows an
<audio> element whose source is the audited stream endpoint of the API (`/api/v1/recordings/{id}/stream`), which
records the playback with that reason. A download link appears only for users who hold `recording.download`, and
the download is audited as an export by its own endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import Form
from fastapi.responses import Response

from callvault.core.errors import FieldError, NotFound
from callvault.interactions import recordings
from callvault.interactions import service as interactions
from callvault.interactions.schemas import InteractionRead, InteractionStatus, InteractionSummary, RecordingRead
from callvault.web.console import Console, allowed, console_router, object_id
from callvault.web.forms import utc_time

router = console_router()
PAGE_SIZE: Final = 50
REASON_MIN, REASON_MAX = 3, 500  # as `recordings.open_playback` asks


def _uuid(name: str, raw: str, errors: list[FieldError]) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        errors.append(FieldError(name, "not an id"))
        return None


def _state(raw: str) -> InteractionStatus | None:
    try:
        return InteractionStatus(raw) if raw else None
    except ValueError:
        return None


@router.get("/records")
def records_page(
    console: Annotated[Console, allowed(interactions.READ)],
    since: str = "",
    until: str = "",
    queue: str = "",
    disposition: str = "",
    status: str = "",
    cursor: str | None = None,
) -> Response:
    errors: list[FieldError] = []
    start, end = utc_time("since", since, errors), utc_time("until", until, errors)
    queue_id = _uuid("queue", queue[:40], errors)
    state = _state(status[:16])
    filters = {"since": since, "until": until, "queue": queue, "disposition": disposition, "status": status}
    if errors:
        return _records(console, [], None, filters, errors)
    page = interactions.list_interactions(
        console.session,
        actor=console.principal,
        limit=PAGE_SIZE,
        cursor=cursor,
        status=state,
        offered_from=start,
        offered_until=end,
        queue_id=queue_id,
        disposition=disposition[:64].strip() or None,
    )
    return _records(console, page.items, page.next_cursor, filters, errors)


def _records(
    console: Console,
    rows: Sequence[InteractionSummary],
    next_cursor: str | None,
    filters: dict[str, str],
    errors: list[FieldError],
) -> Response:
    query = urlencode({k: v for k, v in filters.items() if v})
    return console.render(
        "records.html",
        status=422 if errors else 200,
        records=rows,
        next_cursor=next_cursor,
        filters=filters,
        query=query,
        statuses=[s.value for s in InteractionStatus],
        errors=errors,
    )


@router.get("/records/{interaction_id}")
def record_page(interaction_id: str, console: Annotated[Console, allowed(interactions.READ)]) -> Response:
    shown = interactions.get_interaction(
        console.session, actor=console.principal, interaction_id=object_id(interaction_id)
    )
    return _record(console, shown)


def _record(
    console: Console,
    shown: InteractionRead,
    *,
    playing: RecordingRead | None = None,
    reason: str = "",
    errors: list[FieldError] | None = None,
) -> Response:
    p = console.principal
    query = urlencode({"reason": reason})
    return console.render(
        "record.html",
        status=422 if errors else 200,
        record=shown,
        playing=playing,
        stream_url=f"/api/v1/recordings/{playing.id}/stream?{query}" if playing else "",
        # Only with the separate permission: a download is a copy leaving the platform (audited as an export).
        download_url=f"/api/v1/recordings/{playing.id}/download?{query}"
        if playing and p.has(recordings.DOWNLOAD)
        else "",
        can_play=p.has(recordings.PLAY),
        reason=reason,
        errors=errors or [],
    )


@router.post("/records/{interaction_id}/play")
def play(
    interaction_id: str,
    console: Annotated[Console, allowed(recordings.PLAY)],
    recording: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
) -> Response:
    """The record page with a player for one of its recordings; the stream itself audits each playback."""
    shown = interactions.get_interaction(
        console.session, actor=console.principal, interaction_id=object_id(interaction_id)
    )
    chosen = next((r for r in shown.recordings if str(r.id) == recording.strip()), None)
    if chosen is None:
        raise NotFound("no such recording")  # another record's or institution's recording: 404 like the API
    reason = reason.strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        return _record(
            console, shown, errors=[FieldError("reason", "say why you open this recording (3 to 500 characters)")]
        )
    return _record(console, shown, playing=chosen, reason=reason)
