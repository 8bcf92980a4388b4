"""Saved mapping templates of an institution: queries and action functions (audited, with an outbox event).

A template is validated as a `ColumnMapping` when saved, so an import naming it cannot fail on the template's
shape, only on the file (a column the file lacks). Imports copy the template's mapping into their job, so
editing or deleting a template never changes an import already started (nor its resume).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.contacts.mapping import ColumnMapping, MappingError
from callvault.contacts.mapping_models import ImportMapping
from callvault.contacts.mapping_schemas import MappingTemplateCreate, MappingTemplateRead, MappingTemplateUpdate
from callvault.core import clock, outbox
from callvault.core.errors import Conflict, InvalidInput, NotFound
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.security import audit
from callvault.security.principal import Principal

# Templates serve list imports: whoever may import lists may keep their templates.
PERMISSION: Final = "contact.import"


def _checked(raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return ColumnMapping.from_json(raw).to_json()
    except MappingError as exc:
        raise InvalidInput.one("mapping", str(exc)) from None


def _get(session: Session, mapping_id: uuid.UUID) -> ImportMapping:
    found = session.get(ImportMapping, mapping_id)
    if found is None:
        raise NotFound("no such mapping template")
    return found


def _by_name(session: Session, name: str) -> ImportMapping | None:
    return session.scalars(select(ImportMapping).where(ImportMapping.name == name)).one_or_none()


def list_templates(session: Session, *, actor: Principal, limit: int, cursor: str | None) -> Page[MappingTemplateRead]:
    actor.require(PERMISSION)
    return paginate(
        session,
        select(ImportMapping),
        id_column=ImportMapping.id,
        limit=limit,
        cursor=cursor,
        to_read=MappingTemplateRead.model_validate,
    )


def get_template(session: Session, *, actor: Principal, mapping_id: uuid.UUID) -> MappingTemplateRead:
    actor.require(PERMISSION)
    return MappingTemplateRead.model_validate(_get(session, mapping_id))


def resolve(session: Session, *, actor: Principal, name: str) -> ColumnMapping:
    """The mapping of the institution's template called `name`; InvalidInput names it when there is none."""
    actor.require(PERMISSION)
    found = _by_name(session, name.strip())
    if found is None:
        raise InvalidInput.one("mapping_template", f"no mapping template called {name!r}")
    return ColumnMapping.from_json(found.mapping)


def resolve_id(session: Session, *, actor: Principal, mapping_id: uuid.UUID) -> tuple[str, ColumnMapping]:
    """The name and mapping of the institution's template `mapping_id` (the console's choice); NotFound when
    there is none, which is also what another institution's template is under tenant isolation."""
    actor.require(PERMISSION)
    found = _get(session, mapping_id)
    return found.name, ColumnMapping.from_json(found.mapping)


def _record(session: Session, actor: Principal, action: str, template: ImportMapping) -> None:
    audit.record(session, actor=actor, action=action, object_type="import_mapping", object_id=template.id)
    outbox.emit(
        session,
        tenant_slug=actor.tenant_slug,
        name=action,
        payload={"id": str(template.id)},
    )


def create_template(session: Session, *, actor: Principal, data: MappingTemplateCreate) -> MappingTemplateRead:
    """Save a mapping template under a name unique within the institution."""
    actor.require(PERMISSION)
    if _by_name(session, data.name) is not None:
        raise Conflict("a mapping template with this name exists")
    template = ImportMapping(
        name=data.name, description=data.description, mapping=_checked(data.mapping), created_by=actor.actor
    )
    session.add(template)
    session.flush()
    read = MappingTemplateRead.model_validate(template)
    _record(session, actor, "import_mapping.create", template)
    session.commit()
    return read


def update_template(
    session: Session, *, actor: Principal, mapping_id: uuid.UUID, data: MappingTemplateUpdate
) -> MappingTemplateRead:
    """Rename a template or change its description or mapping (imports already started keep their copy)."""
    actor.require(PERMISSION)
    template = _get(session, mapping_id)
    if data.name is not None and data.name != template.name:
        if _by_name(session, data.name) is not None:
            raise Conflict("a mapping template with this name exists")
        template.name = data.name
    if data.description is not None:
        template.description = data.description
    if data.mapping is not None:
        template.mapping = _checked(data.mapping)
    template.updated_at = clock.now()
    session.flush()
    read = MappingTemplateRead.model_validate(template)
    _record(session, actor, "import_mapping.update", template)
    session.commit()
    return read


def delete_template(session: Session, *, actor: Principal, mapping_id: uuid.UUID) -> None:
    """Delete a template (imports that used it keep their copy of the mapping)."""
    actor.require(PERMISSION)
    template = _get(session, mapping_id)
    _record(session, actor, "import_mapping.delete", template)
    session.delete(template)
    session.commit()
