"""Console page of saved column-mapping templates: the list (columns mapped, who saved it and when), a small
form to save one, and delete. The list import form offers the same templates in a select box (`contact_pages`).

Everything goes through `mapping_service`'s action functions (audited, with an outbox event), as the API does.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Form
from fastapi.responses import Response
from pydantic import ValidationError

from callvault.contacts import mapping_service
from callvault.contacts.mapping_schemas import MappingTemplateCreate, MappingTemplateRead
from callvault.core.errors import Conflict, FieldError, InvalidInput
from callvault.web.console import Console, allowed, console_router, object_id, see_other
from callvault.web.forms import field_errors

router = console_router()
PERMISSION: Final = mapping_service.PERMISSION
# The select box of the import form shows this many; an institution keeps a handful, not hundreds.
SELECTABLE: Final = 200
# A Chinese keyboard types the full-width comma; both separate the phone columns.
FULL_WIDTH_COMMA: Final = "\uff0c"


def selectable_templates(console: Console) -> list[MappingTemplateRead]:
    """The institution's templates for the import form's select box (none without the permission)."""
    if not console.principal.has(PERMISSION):
        return []
    page = mapping_service.list_templates(console.session, actor=console.principal, limit=SELECTABLE, cursor=None)
    return page.items


@router.get("/import-mappings")
def mappings_page(console: Annotated[Console, allowed(PERMISSION)], cursor: str | None = None) -> Response:
    return _mappings(console, cursor=cursor)


def _mappings(
    console: Console,
    *,
    cursor: str | None = None,
    errors: list[FieldError] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    page = mapping_service.list_templates(console.session, actor=console.principal, limit=50, cursor=cursor)
    return console.render(
        "mappings.html",
        status=422 if errors else 200,
        templates=page.items,
        next_cursor=page.next_cursor,
        errors=errors or [],
        form=form or {},
    )


def _custom_fields(raw: str) -> dict[str, str]:
    """`field=column`, one a line, into the template's `custom` object; blank lines are skipped."""
    custom: dict[str, str] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        target, sep, column = line.partition("=")
        if not sep or not target.strip() or not column.strip():
            raise InvalidInput.one("custom", "write one custom field a line as field=column")
        custom[target.strip()] = column.strip()
    return custom


def _mapping_of(form: dict[str, str], trim: bool) -> dict[str, Any]:
    """The template JSON from the form's fields; `ColumnMapping` checks it when the action saves it."""
    phones = [p.strip() for p in form["phones"].replace(FULL_WIDTH_COMMA, ",").split(",") if p.strip()]
    return {
        "phones": phones,
        "name": form["name_column"].strip() or None,
        "id_number": form["id_number_column"].strip() or None,
        "card_number": form["card_number_column"].strip() or None,
        "custom": _custom_fields(form["custom"]),
        "trim": trim,
    }


@router.post("/import-mappings")
def create_mapping(
    console: Annotated[Console, allowed(PERMISSION)],
    name: Annotated[str, Form(max_length=120)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    phones: Annotated[str, Form(max_length=2000)] = "",
    name_column: Annotated[str, Form(max_length=200)] = "",
    id_number_column: Annotated[str, Form(max_length=200)] = "",
    card_number_column: Annotated[str, Form(max_length=200)] = "",
    custom: Annotated[str, Form(max_length=8000)] = "",
    trim: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save the mapping typed into the form as a named template (`import_mapping.create`)."""
    form = {
        "name": name,
        "description": description,
        "phones": phones,
        "name_column": name_column,
        "id_number_column": id_number_column,
        "card_number_column": card_number_column,
        "custom": custom,
        "trim": trim,
    }
    try:
        data = MappingTemplateCreate.model_validate(
            {"name": name.strip(), "description": description.strip(), "mapping": _mapping_of(form, bool(trim))}
        )
        mapping_service.create_template(console.session, actor=console.principal, data=data)
    except ValidationError as exc:
        return _mappings(console, errors=field_errors(exc), form=form)
    except InvalidInput as exc:
        console.session.rollback()
        return _mappings(console, errors=exc.errors, form=form)
    except Conflict:
        console.session.rollback()
        return _mappings(console, errors=[FieldError("name", "a mapping template with this name exists")], form=form)
    return see_other("/console/import-mappings", notice="created")


@router.post("/import-mappings/{mapping_id}/delete")
def delete_mapping(mapping_id: str, console: Annotated[Console, allowed(PERMISSION)]) -> Response:
    """Delete a template (`import_mapping.delete`); imports that used it keep their own copy of the mapping."""
    mapping_service.delete_template(console.session, actor=console.principal, mapping_id=object_id(mapping_id))
    return see_other("/console/import-mappings", notice="removed")
