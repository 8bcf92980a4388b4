"""Call-record pages: search by time, queue, disposition and state; a record with its legs (numbers masked);
stream-only playback after a typed reason, audited by the stream with that reason; a download link only with
`recording.download`; nothing of another institution."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from callvault.core import clock
from callvault.core.db import Database
from callvault.interactions import service as interactions
from callvault.interactions.schemas import InteractionClose
from callvault.tenancy import service as tenancy
from tests.console.helpers import audio_source, audit_records, call_with_recording, form, role_user
from tests.fixtures import World
from tests.interactions.helpers import CUSTOMER, actor_of


def _close(db: Database, slug: str, interaction_id: uuid.UUID, disposition: str) -> None:
    actor = actor_of(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        interactions.close_interaction(
            session,
            actor=actor,
            interaction_id=interaction_id,
            data=InteractionClose(disposition=disposition),
        )


def _routed(db: Database, slug: str, interaction_id: uuid.UUID, queue_id: uuid.UUID) -> None:
    actor = actor_of(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        interactions.record_routing(session, actor=actor, interaction_id=interaction_id, queue_id=queue_id)


def _rows(page: str) -> set[str]:
    return set(re.findall(r'<tr data-record="([0-9a-f-]+)">', page))


def test_search_by_time_queue_disposition_and_state(world: World, db: Database, login: Any, tmp_path: Path) -> None:
    inst = world.institution(roles=("supervisor", "admin"))
    first = call_with_recording(db, inst.slug, tmp_path).interaction_id
    second = call_with_recording(db, inst.slug, tmp_path).interaction_id
    queue = uuid.uuid4()
    _routed(db, inst.slug, first, queue)
    _close(db, inst.slug, second, "resolved")
    sup = login(inst.accounts["supervisor"])

    page = sup.get("/console/records")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert _rows(page.text) == {str(first), str(second)}
    assert _rows(sup.get(f"/console/records?queue={queue}").text) == {str(first)}
    assert _rows(sup.get("/console/records?disposition=resolved").text) == {str(second)}
    assert _rows(sup.get("/console/records?status=closed").text) == {str(second)}
    hour_ago = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    in_an_hour = (clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert _rows(sup.get(f"/console/records?since={hour_ago}&until={in_an_hour}").text) == {str(first), str(second)}
    assert _rows(sup.get(f"/console/records?until={hour_ago}").text) == set()
    # A bound with an offset is the same instant: an hour ago in Shanghai time still finds both, not none.
    shanghai = timezone(timedelta(hours=8))
    since_cst = (clock.now() - timedelta(hours=1)).astimezone(shanghai).isoformat(timespec="minutes")
    assert _rows(sup.get("/console/records", params={"since": since_cst}).text) == {str(first), str(second)}
    assert _rows(sup.get("/console/records", params={"until": since_cst}).text) == set()
    bad = sup.get("/console/records?since=yesterday&queue=q-1")
    assert bad.status_code == 422 and "since" in bad.text and "queue" in bad.text
    # The admin holds no interaction.read: neither the section nor the page.
    admin = login(inst.accounts["admin"])
    assert 'href="/console/records"' not in admin.get("/console").text
    assert admin.get("/console/records").status_code == 403
    assert admin.get(f"/console/records/{first}").status_code == 403


def test_playback_is_stream_only_after_a_reason_and_audited(
    world: World, db: Database, login: Any, tmp_path: Path
) -> None:
    inst = world.institution(roles=("supervisor", "admin"))
    call = call_with_recording(db, inst.slug, tmp_path)
    sup = login(inst.accounts["supervisor"])
    url = f"/console/records/{call.interaction_id}"

    page = sup.get(url)
    assert page.status_code == 200
    assert CUSTOMER[3:] not in page.text and CUSTOMER[-4:] in page.text  # masked: the last digits only
    assert "<audio" not in page.text and f'id="play-{call.recording.id}"' in page.text
    assert audit_records(db, inst.id, "recording.play") == []

    # Too short a reason: the form again with the field named, no player, nothing audited.
    r = form(sup, f"{url}/play", recording=str(call.recording.id), reason="x")
    assert r.status_code == 422 and "reason" in r.text and "<audio" not in r.text

    reason = "客户投诉复核 QA-1024"
    r = form(sup, f"{url}/play", recording=str(call.recording.id), reason=reason)
    assert r.status_code == 200 and 'id="recording-download"' not in r.text  # no recording.download
    src = audio_source(r.text)
    parts = urlsplit(src)
    assert parts.path == f"/api/v1/recordings/{call.recording.id}/stream"
    assert parse_qs(parts.query)["reason"] == [reason]
    assert audit_records(db, inst.id, "recording.play") == []  # the page only shows the player

    audio = sup.get(src)
    assert audio.status_code == 200 and audio.content.startswith(b"RIFF")
    assert audio.headers["content-disposition"].startswith("inline")
    played = audit_records(db, inst.id, "recording.play")
    assert [(e.object_id, e.details["reason"], e.actor) for e in played] == [
        (str(call.recording.id), reason, f"user:{inst.accounts['supervisor'].user_id}")
    ]
    assert audit_records(db, inst.id, "recording.export") == []

    # Without recording.play: no form, and the play form is refused.
    admin = login(inst.accounts["admin"])
    assert form(admin, f"{url}/play", recording=str(call.recording.id), reason=reason).status_code == 403
    # Without the CSRF token: refused.
    r = sup.client.post(f"{url}/play", data={"recording": str(call.recording.id), "reason": reason})
    assert r.status_code == 403


def test_download_link_only_with_the_download_permission(
    world: World, db: Database, login: Any, tmp_path: Path
) -> None:
    inst = world.institution(roles=())
    call = call_with_recording(db, inst.slug, tmp_path)
    keeper = login(
        role_user(world, inst.slug, "archivist", ["interaction.read", "recording.play", "recording.download"])
    )
    listener = login(role_user(world, inst.slug, "reader", ["interaction.read"]))
    url = f"/console/records/{call.interaction_id}"
    assert f'id="play-{call.recording.id}"' not in listener.get(url).text
    r = form(keeper, f"{url}/play", recording=str(call.recording.id), reason="regulator request R-7")
    link = re.search(r'id="recording-download" href="([^"]+)"', r.text)
    assert link and link.group(1).startswith(f"/api/v1/recordings/{call.recording.id}/download?reason=")
    assert keeper.get(link.group(1).replace("&amp;", "&")).status_code == 200
    exported = audit_records(db, inst.id, "recording.export")
    assert [e.details["reason"] for e in exported] == ["regulator request R-7"]


def test_institution_a_cannot_open_b_records_or_recordings(
    world: World, db: Database, login: Any, tmp_path: Path
) -> None:
    a, b = world.institution(roles=("supervisor",)), world.institution(roles=())
    own = call_with_recording(db, a.slug, tmp_path)
    theirs = call_with_recording(db, b.slug, tmp_path)
    sup = login(a.accounts["supervisor"])
    assert sup.get(f"/console/records/{theirs.interaction_id}").status_code == 404
    r = form(sup, f"/console/records/{theirs.interaction_id}/play", recording=str(theirs.recording.id), reason="look")
    assert r.status_code == 404
    # B's recording through A's own record: still not found.
    r = form(sup, f"/console/records/{own.interaction_id}/play", recording=str(theirs.recording.id), reason="look")
    assert r.status_code == 404
    assert sup.get(f"/api/v1/recordings/{theirs.recording.id}/stream?reason=look").status_code == 404
    assert str(theirs.interaction_id) not in sup.get("/console/records").text
    assert audit_records(db, b.id, "recording.play") == []
