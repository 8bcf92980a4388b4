"""Console pages with customer data: contact lists, their imports, masked contacts with an audited reveal, DNC.

Every page here carries the viewer's watermark and is sent with Cache-Control: no-store (`Console.render`).
File uploads go from the browser straight to the streaming import API (`static/console.js`), which keeps large
files out of memory and under the upload size limit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError

from callvault.contacts import import_service
from callvault.contacts import service as contacts
from callvault.contacts.schemas import ContactListCreate, ContactRead, RevealReason, RevealRequest
from callvault.core.errors import Conflict, FieldError, InvalidInput
from callvault.dnc import service as dnc
from callvault.dnc.policy import Purpose
from callvault.dnc.schemas import DncCreate
from callvault.web.console import NO_STORE, Console, allowed, console_router, object_id, see_other
from callvault.web.forms import field_errors
from callvault.web.mapping_pages import selectable_templates

router = console_router()
FINISHED = frozenset({"finished", "failed", "interrupted"})
REVEALABLE = ("name", "id_number", "card_number", "phones", "custom")


@router.get("/lists")
def lists_page(console: Annotated[Console, allowed("contact.read")], cursor: str | None = None) -> Response:
    return _lists(console, cursor=cursor)


def _lists(console: Console, *, cursor: str | None = None, errors: list[FieldError] | None = None) -> Response:
    page = contacts.list_lists(console.session, actor=console.principal, limit=50, cursor=cursor)
    return console.render(
        "lists.html",
        status=422 if errors else 200,
        lists=page.items,
        next_cursor=page.next_cursor,
        purposes=[p.value for p in Purpose],
        errors=errors or [],
    )


@router.post("/lists")
def create_list(
    console: Annotated[Console, allowed("contact.import")],
    name: Annotated[str, Form(max_length=120)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    purpose: Annotated[str, Form(max_length=32)] = Purpose.MARKETING.value,
) -> Response:
    try:
        data = ContactListCreate.model_validate({"name": name, "description": description, "purpose": purpose})
        created = contacts.create_list(console.session, actor=console.principal, data=data)
    except ValidationError as exc:
        return _lists(console, errors=field_errors(exc))
    except InvalidInput as exc:
        return _lists(console, errors=exc.errors)
    except Conflict:
        return _lists(console, errors=[FieldError("name", "a list with this name exists")])
    return see_other(f"/console/lists/{created.id}", notice="created")


@router.get("/lists/{list_id}")
def list_page(
    list_id: str, console: Annotated[Console, allowed("contact.read")], cursor: str | None = None
) -> Response:
    lid = object_id(list_id)
    found = import_service.get_list(console.session, list_id=lid)  # another institution's list: 404
    page = contacts.find_contacts(
        console.session, actor=console.principal, phone=None, list_id=lid, limit=50, cursor=cursor
    )
    imports = (
        import_service.list_jobs(console.session, actor=console.principal, list_id=lid)
        if console.principal.has("contact.import")
        else []
    )
    return console.render(
        "list.html",
        contact_list=found,
        contacts=page.items,
        next_cursor=page.next_cursor,
        imports=imports,
        mapping_templates=selectable_templates(console),
    )


@router.get("/imports/{import_id}")
def import_page(import_id: str, console: Annotated[Console, allowed("contact.import")]) -> Response:
    job = import_service.job_read(import_service.get_job(console.session, import_id=object_id(import_id)))
    return console.render("import.html", job=job, finished=job.status in FINISHED)


@router.get("/imports/{import_id}/progress")
def import_progress(import_id: str, console: Annotated[Console, allowed("contact.import")]) -> Response:
    """The counters fragment the import page polls (HTMX) until the job is finished."""
    job = import_service.job_read(import_service.get_job(console.session, import_id=object_id(import_id)))
    return console.render("import_progress.html", job=job, finished=job.status in FINISHED)


@router.get("/imports/{import_id}/errors")
def import_errors(import_id: str, console: Annotated[Console, allowed("contact.import")]) -> FileResponse:
    """The error report (line, column, reason, masked value) as a download; audited as an export."""
    iid = object_id(import_id)
    path = import_service.error_report(console.session, actor=console.principal, import_id=iid)
    return FileResponse(
        path, media_type="text/csv; charset=utf-8", filename=f"import-{iid}-errors.csv", headers=NO_STORE
    )


# --- contacts ---------------------------------------------------------------------------------------------------


@router.get("/contacts/{contact_id}")
def contact_page(contact_id: str, console: Annotated[Console, allowed("contact.read")]) -> Response:
    shown = contacts.get_contact(console.session, actor=console.principal, contact_id=object_id(contact_id))
    return _contact(console, shown)


def _contact(console: Console, shown: ContactRead, *, errors: list[FieldError] | None = None) -> Response:
    return console.render(
        "contact.html",
        status=422 if errors else 200,
        contact=shown,
        reasons=[r.value for r in RevealReason],
        revealable=REVEALABLE,
        errors=errors or [],
    )


@router.post("/contacts/{contact_id}/reveal")
def reveal(
    contact_id: str,
    console: Annotated[Console, allowed("contact.reveal")],
    fields: Annotated[list[str] | None, Form()] = None,
    reason: Annotated[str, Form(max_length=40)] = "",
    ticket: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Show the chosen fields unmasked on this response only (one audit record per value, with the reason)."""
    cid = object_id(contact_id)
    try:
        data = RevealRequest.model_validate({"fields": fields or [], "reason": reason, "ticket": ticket or None})
    except ValidationError as exc:
        shown = contacts.get_contact(console.session, actor=console.principal, contact_id=cid)
        return _contact(console, shown, errors=field_errors(exc))
    return _contact(
        console, contacts.reveal_contact(console.session, actor=console.principal, contact_id=cid, data=data)
    )


# --- do not call ------------------------------------------------------------------------------------------------


@router.get("/dnc")
def dnc_page(console: Annotated[Console, allowed(dnc.READ)], cursor: str | None = None) -> Response:
    return _dnc(console, cursor=cursor)


def _dnc(console: Console, *, cursor: str | None = None, errors: list[FieldError] | None = None) -> Response:
    page = dnc.list_entries(console.session, actor=console.principal, limit=50, cursor=cursor)
    return console.render(
        "dnc.html", status=422 if errors else 200, entries=page.items, next_cursor=page.next_cursor, errors=errors or []
    )


@router.post("/dnc")
def add_dnc(
    console: Annotated[Console, allowed(dnc.MANAGE)],
    phone: Annotated[str, Form(max_length=40)] = "",
    all_purposes: Annotated[str, Form(max_length=8)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    scope = "global" if console.principal.is_operator else "institution"
    try:
        data = DncCreate.model_validate(
            {"phone": phone, "scope": scope, "all_purposes": bool(all_purposes), "reason": reason, "source": "console"}
        )
        dnc.add_entry(console.session, actor=console.principal, data=data)
    except ValidationError as exc:
        return _dnc(console, errors=field_errors(exc))
    except InvalidInput as exc:
        console.session.rollback()
        return _dnc(console, errors=exc.errors)
    return see_other("/console/dnc", notice="created")


@router.post("/dnc/{entry_id}/remove")
def remove_dnc(entry_id: str, console: Annotated[Console, allowed(dnc.MANAGE)]) -> Response:
    dnc.remove_entry(console.session, actor=console.principal, entry_id=object_id(entry_id))
    return see_other("/console/dnc", notice="removed")
