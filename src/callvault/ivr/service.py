"""IVR queries and action functions: flows, drafts, publish and rollback.

A draft holds any well-formed document; publishing validates it against the institution's queues and prompt files
and refuses it with every problem named per node. Publish and rollback are audited and emitted as events.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from callvault.acd import service as acd
from callvault.core import clock, outbox, secretbox
from callvault.core.errors import Conflict, InvalidInput, NotFound
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.core.tenant_context import current_tenant
from callvault.core.ttlcache import TtlCache
from callvault.ivr import prompts
from callvault.ivr.flow import FlowDocument, document_json
from callvault.ivr.lookup import LookupCredentials
from callvault.ivr.models import IvrFlow, IvrFlowVersion, IvrLookupKey
from callvault.ivr.schemas import (
    FlowCreate,
    FlowRead,
    LookupKeyCreated,
    LookupKeyRead,
    VersionRead,
    VersionSummary,
)
from callvault.ivr.validator import validate
from callvault.security import audit
from callvault.security.principal import Principal

MANAGE = "ivr.manage"
READ = "ivr.read"
DRAFT, PUBLISHED, RETIRED = "draft", "published", "retired"

PromptCheck = Callable[[str], bool]


# --- queries -------------------------------------------------------------------------------------------------


def get_flow(session: Session, *, flow_id: uuid.UUID, lock: bool = False) -> IvrFlow:
    flow = session.get(IvrFlow, flow_id, with_for_update=lock)
    if flow is None:
        raise NotFound("no such IVR flow")
    return flow


def _version_with(session: Session, flow_id: uuid.UUID, status: str) -> IvrFlowVersion | None:
    return session.scalars(
        select(IvrFlowVersion).where(IvrFlowVersion.flow_id == flow_id, IvrFlowVersion.status == status)
    ).first()


def flow_read(session: Session, flow: IvrFlow) -> FlowRead:
    published, draft = _version_with(session, flow.id, PUBLISHED), _version_with(session, flow.id, DRAFT)
    read = FlowRead.model_validate(flow)
    read.published_number = published.number if published else None
    read.draft_number = draft.number if draft else None
    return read


def list_flows(session: Session, *, limit: int, cursor: str | None) -> Page[FlowRead]:
    return paginate(
        session,
        select(IvrFlow),
        id_column=IvrFlow.id,
        limit=limit,
        cursor=cursor,
        to_read=lambda f: flow_read(session, f),
    )


def list_versions(session: Session, *, flow_id: uuid.UUID, limit: int, cursor: str | None) -> Page[VersionSummary]:
    get_flow(session, flow_id=flow_id)
    return paginate(
        session,
        select(IvrFlowVersion).where(IvrFlowVersion.flow_id == flow_id),
        id_column=IvrFlowVersion.id,
        limit=limit,
        cursor=cursor,
        to_read=VersionSummary.model_validate,
    )


def get_version(session: Session, *, flow_id: uuid.UUID, version_id: uuid.UUID) -> VersionRead:
    version = session.get(IvrFlowVersion, version_id)
    if version is None or version.flow_id != flow_id:
        raise NotFound("no such version of this IVR flow")
    return VersionRead.model_validate(version)


@dataclass(frozen=True)
class PublishedFlow:
    flow_id: uuid.UUID
    number: int
    document: FlowDocument


def published_flow(session: Session, *, entry_point: str) -> PublishedFlow | None:
    """The published version answering calls at this entry point (the interpreter's input)."""
    flow = session.scalars(select(IvrFlow).where(IvrFlow.entry_point == entry_point)).first()
    version = _version_with(session, flow.id, PUBLISHED) if flow is not None else None
    if flow is None or version is None:
        return None
    return PublishedFlow(flow.id, version.number, FlowDocument.model_validate(version.document))


def published_flow_named(session: Session, *, name: str) -> PublishedFlow | None:
    """The published version of the flow called ``name`` (outbound calls name their flow)."""
    flow = session.scalars(select(IvrFlow).where(IvrFlow.name == name)).first()
    version = _version_with(session, flow.id, PUBLISHED) if flow is not None else None
    if flow is None or version is None:
        return None
    return PublishedFlow(flow.id, version.number, FlowDocument.model_validate(version.document))


# The trigger API checks every order's flow and variables against the published version. What it needs (the
# flow's inputs) is cached per tenant and name: dropped after the commit of a publish or rollback in this process,
# at most `ttl` seconds stale in another one (the worker reads the published version itself when it dials).
_published_inputs: TtlCache[tuple[uuid.UUID, str], frozenset[str]] = TtlCache(ttl=10.0)
_CHANGED_KEY = "callvault.ivr.published_changed"


def published_inputs(session: Session, *, name: str) -> frozenset[str] | None:
    """The inputs of the published version of the flow called ``name``, or None if none is published."""
    key = (current_tenant(session), name)
    found = _published_inputs.get(key)
    if found is not None:
        return found
    generation = _published_inputs.generation
    published = published_flow_named(session, name=name)
    if published is None:
        return None  # not cached: a flow published a moment later is usable at once
    inputs = frozenset(published.document.inputs)
    _published_inputs.put(key, inputs, generation=generation)
    return inputs


def forget_published_inputs() -> None:
    """Drop every cached entry (tests)."""
    _published_inputs.forget()


@event.listens_for(Session, "after_commit")
def _forget_changed_flows(session: Session) -> None:
    for key in session.info.pop(_CHANGED_KEY, ()):
        _published_inputs.forget(key)


@event.listens_for(Session, "after_rollback")
def _keep_unchanged_flows(session: Session) -> None:
    session.info.pop(_CHANGED_KEY, None)


def check(
    session: Session, *, actor: Principal, document: FlowDocument, prompt_exists: PromptCheck | None = None
) -> None:
    """Raise InvalidInput naming every problem of the document (per node), as publish would."""
    known = {q.name for q in acd.list_queues(session)}
    exists = prompt_exists or prompts.exists_in(prompts.prompt_root(actor.tenant_slug))
    errors = validate(document, known_queues=known, prompt_exists=exists)
    if errors:
        raise InvalidInput(errors)


# --- actions -------------------------------------------------------------------------------------------------


def create_flow(session: Session, *, actor: Principal, data: FlowCreate) -> FlowRead:
    """Create an (empty) flow for an entry point; its first draft follows with `save_draft`."""
    actor.require(MANAGE)
    clash = session.scalars(
        select(IvrFlow).where((IvrFlow.name == data.name) | (IvrFlow.entry_point == data.entry_point))
    ).first()
    if clash is not None:
        raise Conflict("a flow with this name or entry point exists")
    flow = IvrFlow(name=data.name, entry_point=data.entry_point, description=data.description)
    session.add(flow)
    session.flush()
    read = flow_read(session, flow)
    audit.record(session, actor=actor, action="ivr.flow.create", object_type="ivr_flow", object_id=flow.id)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="ivr.flow.created", payload=read.model_dump(mode="json"))
    session.commit()
    return read


def _next_number(session: Session, flow_id: uuid.UUID) -> int:
    current = session.scalar(select(func.max(IvrFlowVersion.number)).where(IvrFlowVersion.flow_id == flow_id))
    return (current or 0) + 1


def save_draft(session: Session, *, actor: Principal, flow_id: uuid.UUID, document: FlowDocument) -> VersionRead:
    """Create the flow's draft version, or replace the document of the existing draft."""
    actor.require(MANAGE)
    flow = get_flow(session, flow_id=flow_id, lock=True)
    draft = _version_with(session, flow.id, DRAFT)
    if draft is None:
        draft = IvrFlowVersion(flow_id=flow.id, number=_next_number(session, flow.id), status=DRAFT, document={})
        session.add(draft)
    draft.document, draft.author = document_json(document), actor.actor
    session.flush()
    read = VersionRead.model_validate(draft)
    details = {"flow_id": str(flow.id), "number": draft.number, "nodes": len(document.nodes)}
    audit.record(
        session, actor=actor, action="ivr.draft.save", object_type="ivr_flow", object_id=flow.id, details=details
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="ivr.flow.draft_saved", payload=details)
    session.commit()
    return read


def _make_published(session: Session, *, actor: Principal, flow: IvrFlow, version: IvrFlowVersion) -> None:
    current = _version_with(session, flow.id, PUBLISHED)
    if current is not None and current is not version:
        current.status = RETIRED
        session.flush()  # one published version per flow at any moment
    version.status, version.published_by, version.published_at = PUBLISHED, actor.actor, clock.now()
    session.flush()
    # Forgotten after the commit: dropped now, a concurrent order could cache the old version again meanwhile.
    session.info.setdefault(_CHANGED_KEY, set()).add((flow.tenant_id, flow.name))


def publish(
    session: Session, *, actor: Principal, flow_id: uuid.UUID, prompt_exists: PromptCheck | None = None
) -> VersionRead:
    """Validate the draft and make it the published version (the previous one retires)."""
    actor.require(MANAGE)
    flow = get_flow(session, flow_id=flow_id, lock=True)
    draft = _version_with(session, flow.id, DRAFT)
    if draft is None:
        raise Conflict("the flow has no draft to publish")
    check(session, actor=actor, document=FlowDocument.model_validate(draft.document), prompt_exists=prompt_exists)
    _make_published(session, actor=actor, flow=flow, version=draft)
    read = VersionRead.model_validate(draft)
    details = {"flow_id": str(flow.id), "number": draft.number}
    audit.record(
        session, actor=actor, action="ivr.flow.publish", object_type="ivr_flow", object_id=flow.id, details=details
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="ivr.flow.published", payload=details)
    session.commit()
    return read


def rollback(
    session: Session,
    *,
    actor: Principal,
    flow_id: uuid.UUID,
    version_id: uuid.UUID,
    prompt_exists: PromptCheck | None = None,
) -> VersionRead:
    """Publish a new version with the document of an earlier one (checked again: queues may have gone since)."""
    actor.require(MANAGE)
    flow = get_flow(session, flow_id=flow_id, lock=True)
    source = session.get(IvrFlowVersion, version_id)
    if source is None or source.flow_id != flow.id:
        raise NotFound("no such version of this IVR flow")
    if source.status == DRAFT:
        raise Conflict("a draft was never published; publish it instead")
    document = FlowDocument.model_validate(source.document)
    check(session, actor=actor, document=document, prompt_exists=prompt_exists)
    version = IvrFlowVersion(
        flow_id=flow.id,
        number=_next_number(session, flow.id),
        status=DRAFT,
        document=dict(source.document),
        author=actor.actor,
        rolled_back_from=source.number,
    )
    session.add(version)
    session.flush()
    _make_published(session, actor=actor, flow=flow, version=version)
    read = VersionRead.model_validate(version)
    details = {"flow_id": str(flow.id), "number": version.number, "rolled_back_from": source.number}
    audit.record(
        session, actor=actor, action="ivr.flow.rollback", object_type="ivr_flow", object_id=flow.id, details=details
    )
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="ivr.flow.rolled_back", payload=details)
    session.commit()
    return read


# --- look-up signing key -------------------------------------------------------------------------------------


def _lookup_key_purpose(row: IvrLookupKey) -> str:
    return f"ivrlookup:{row.id}"


def lookup_key(session: Session) -> LookupKeyRead:
    row = session.scalars(select(IvrLookupKey)).first()
    return LookupKeyRead.model_validate(row) if row is not None else LookupKeyRead()


def rotate_lookup_key(session: Session, *, actor: Principal) -> LookupKeyCreated:
    """Make a new key for signing the institution's look-ups (replacing any previous one); the secret is
    returned this once for the institution's endpoint to verify with."""
    actor.require(MANAGE)
    previous = session.scalars(select(IvrLookupKey)).first()
    session.execute(delete(IvrLookupKey))
    secret = secrets.token_urlsafe(32)
    row = IvrLookupKey(key_id=f"cvl.{actor.tenant_slug}.{secrets.token_hex(8)}", secret_sealed=b"")
    session.add(row)
    session.flush()
    row.secret_sealed = secretbox.seal(secret.encode(), purpose=_lookup_key_purpose(row))
    # The key id's random part could read like a phone number to the audit chain's personal-data check: the
    # record names the row instead.
    audit.record(
        session,
        actor=actor,
        action="ivr.lookup_key.rotate",
        object_type="ivr_lookup_key",
        object_id=row.id,
        details={"replaced": previous is not None},
    )
    payload = {"key_id": row.key_id, "replaced": previous.key_id if previous is not None else ""}
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="ivr.lookup_key.rotated", payload=payload)
    session.commit()
    return LookupKeyCreated(key_id=row.key_id, created_at=row.created_at, secret=secret)


def lookup_credentials(session: Session) -> LookupCredentials | None:
    """The bound institution's look-up key for the interpreter's `LookupClient`, if one was made."""
    row = session.scalars(select(IvrLookupKey)).first()
    if row is None:
        return None
    return LookupCredentials(row.key_id, secretbox.unseal(row.secret_sealed, purpose=_lookup_key_purpose(row)).decode())
