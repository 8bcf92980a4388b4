"""Webhook dead-letter page: the list, redelivery as a CSRF form (audited), a second redelivery as a message,
permission and tenant isolation."""

from __future__ import annotations

from typing import Any

from callvault.core.db import Database
from tests.console.helpers import audit_records, dead_letter, form
from tests.fixtures import World


def test_dead_letters_and_redelivery(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin", "supervisor"))
    delivery = dead_letter(db, inst.slug)
    admin = login(inst.accounts["admin"])
    page = admin.get("/console/webhooks")
    assert page.status_code == 200 and f'data-delivery="{delivery}"' in page.text
    assert f"msg_{delivery.hex}" in page.text  # the webhook-id receivers deduplicate on
    url = f"/console/webhooks/{delivery}/redeliver"
    assert admin.client.post(url, follow_redirects=False).status_code == 403  # no CSRF token
    sup = login(inst.accounts["supervisor"])
    assert sup.get("/console/webhooks").status_code == 403
    assert form(sup, url).status_code == 403
    assert audit_records(db, inst.id, "webhook.redeliver") == []

    r = form(admin, url)
    assert r.status_code == 303 and r.headers["location"] == "/console/webhooks?notice=redelivery-queued"
    after = admin.get(r.headers["location"])
    assert f'data-delivery="{delivery}"' not in after.text and "已重新排队推送。" in after.text
    assert [e.object_id for e in audit_records(db, inst.id, "webhook.redeliver")] == [str(delivery)]
    again = form(admin, url)
    assert again.status_code == 409 and "该推送已不是死信。" in again.text
    assert len(audit_records(db, inst.id, "webhook.redeliver")) == 1


def test_institution_a_cannot_redeliver_b_dead_letters(world: World, db: Database, login: Any) -> None:
    a, b = world.institution(roles=("admin",)), world.institution(roles=())
    theirs = dead_letter(db, b.slug)
    a_admin = login(a.accounts["admin"])
    assert str(theirs) not in a_admin.get("/console/webhooks").text
    assert form(a_admin, f"/console/webhooks/{theirs}/redeliver").status_code == 404
    assert audit_records(db, b.id, "webhook.redeliver") == []
