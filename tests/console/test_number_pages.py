"""Operator console: the phone number inventory page (list, assign to an institution, release)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from callvault.core.db import Database
from tests.console.helpers import audit_records, form
from tests.fixtures import World


def _row(page: str, number: str) -> str:
    found = re.search(rf'<tr data-number="{re.escape(number)}">(.*?)</tr>', page, re.S)
    assert found is not None, f"{number} is not listed"
    return found.group(1)


def test_operator_assigns_releases_and_reassigns_a_number(world: World, db: Database, login: Any) -> None:
    a, b = world.institution(), world.institution()
    op = login(world.operator_user())
    op.client.cookies.set("callvault_lang", "en")
    number = f"+8622{uuid.uuid4().int % 10**8:08d}"
    page = op.get("/console/numbers")
    assert page.status_code == 200 and 'href="/console/numbers"' in page.text
    assert f'<option value="{a.id}"' in page.text and f'<option value="{b.id}"' in page.text

    fields = {"number": number, "institution_id": str(a.id), "entry_kind": "ivr", "entry": "main"}
    assigned = form(op, "/console/numbers", **fields)
    assert assigned.status_code == 303 and assigned.headers["location"] == "/console/numbers?notice=number-assigned"
    listed = op.get("/console/numbers?notice=number-assigned").text
    assert "The number is assigned." in listed
    row = _row(listed, number)
    assert a.slug in row and "main" in row and "/release" in row

    # A number serves one institution; bad input is shown on the form, never a stack trace.
    taken = form(op, "/console/numbers", **(fields | {"institution_id": str(b.id)}))
    assert taken.status_code == 422 and "this number is assigned already" in taken.text
    bad = form(op, "/console/numbers", **(fields | {"number": "95588"}))
    assert bad.status_code == 422 and 'id="form-errors"' in bad.text

    did_id = re.search(r'action="/console/numbers/([0-9a-f-]+)/release"', row)
    assert did_id is not None
    released = form(op, f"/console/numbers/{did_id.group(1)}/release")
    assert released.status_code == 303
    row = _row(op.get("/console/numbers").text, number)
    assert "Unassigned" in row and a.slug not in row and "/release" not in row

    again = form(op, "/console/numbers", **(fields | {"institution_id": str(b.id), "entry_kind": "queue"}))
    assert again.status_code == 303
    row = _row(op.get("/console/numbers").text, number)
    assert b.slug in row and "queue" in row
    operator_id = world.operator_actor()[1]
    mine = str(did_id.group(1))
    assigned_ids = [r.object_id for r in audit_records(db, operator_id, "sip.did.assigned")]
    assert assigned_ids.count(mine) == 2
    assert [r.object_id for r in audit_records(db, operator_id, "sip.did.released")].count(mine) == 1


def test_the_number_page_is_the_operators_only(world: World, login: Any) -> None:
    inst = world.institution()
    admin = login(inst.accounts["admin"])
    assert admin.get("/console/numbers").status_code == 403
    assert 'href="/console/numbers"' not in admin.get("/console").text
    op = login(world.operator_user())
    unsigned = op.client.post("/console/numbers", data={"number": "+861011"}, follow_redirects=False)
    assert unsigned.status_code == 403  # no CSRF token
    assert form(op, "/console/numbers/not-an-id/release").status_code == 404
