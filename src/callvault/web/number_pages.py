"""Operator console: the phone number (DID) inventory; which institution each number serves, assign and release."""

from __future__ import annotations

import uuid
from typing import Annotated, Final

from fastapi import Form, Query
from fastapi.responses import Response
from pydantic import ValidationError

from callvault.core.errors import Conflict, FieldError, InvalidInput
from callvault.sipedge import service as sip
from callvault.sipedge.schemas import DidAssign
from callvault.tenancy import service as tenancy
from callvault.tenancy.models import TenantKind, TenantStatus
from callvault.web.console import Console, allowed, console_router, object_id, see_other
from callvault.web.forms import field_errors

router = console_router()
PAGE: Final = 100


def _institutions(console: Console) -> dict[uuid.UUID, tuple[str, str]]:
    """Every institution by id: (slug, status). Operators are few; institutions are tens, not thousands."""
    found: dict[uuid.UUID, tuple[str, str]] = {}
    cursor: str | None = None
    while True:
        page = tenancy.list_tenants(console.session, limit=200, cursor=cursor)
        found |= {t.id: (t.slug, t.status) for t in page.items if t.kind == TenantKind.INSTITUTION.value}
        if not page.next_cursor:
            return found
        cursor = page.next_cursor


def _numbers(
    console: Console,
    *,
    cursor: str | None = None,
    errors: list[FieldError] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    page = sip.did_inventory(console.session, actor=console.principal, limit=PAGE, cursor=cursor, institution_id=None)
    institutions = _institutions(console)
    return console.render(
        "numbers.html",
        status=422 if errors else 200,
        numbers=page.items,
        next_cursor=page.next_cursor,
        institutions=institutions,
        assignable=sorted(
            (slug, inst_id) for inst_id, (slug, status) in institutions.items() if status == TenantStatus.ACTIVE.value
        ),
        errors=errors or [],
        form=form or {},
    )


@router.get("/numbers")
def numbers_page(
    console: Annotated[Console, allowed(sip.ASSIGN_DIDS)],
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    return _numbers(console, cursor=cursor)


@router.post("/numbers")
def assign_number(
    console: Annotated[Console, allowed(sip.ASSIGN_DIDS)],
    number: Annotated[str, Form(max_length=20)] = "",
    institution_id: Annotated[str, Form(max_length=40)] = "",
    entry_kind: Annotated[str, Form(max_length=8)] = "",
    entry: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    form = {"number": number, "institution_id": institution_id, "entry_kind": entry_kind, "entry": entry}
    try:
        data = DidAssign.model_validate(form)
        sip.assign_did(console.session, actor=console.principal, data=data)
    except ValidationError as exc:
        return _numbers(console, errors=field_errors(exc), form=form)
    except InvalidInput as exc:
        console.session.rollback()
        return _numbers(console, errors=exc.errors, form=form)
    except Conflict:
        console.session.rollback()
        return _numbers(console, errors=[FieldError("number", "this number is assigned already")], form=form)
    return see_other("/console/numbers", notice="number-assigned")


@router.post("/numbers/{did_id}/release")
def release_number(did_id: str, console: Annotated[Console, allowed(sip.ASSIGN_DIDS)]) -> Response:
    sip.release_did(console.session, actor=console.principal, did_id=object_id(did_id))
    return see_other("/console/numbers", notice="number-released")
