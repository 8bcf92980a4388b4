"""SIP trunks, DIDs and agent SIP endpoints: queries and action functions.

Every change writes its row, an audit record and an outbox event in one transaction; audit records and events
name objects by id only (never a number, a username or a credential).
"""

from __future__ import annotations

import uuid
from typing import Any, Final, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callvault.core import outbox
from callvault.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from callvault.core.ids import new_id
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.core.tenant_context import current_tenant
from callvault.identity.models import User
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.security.vault.runtime import vault
from callvault.sipedge import digest
from callvault.sipedge.models import SipDid, SipEndpoint, SipTrunk
from callvault.sipedge.schemas import (
    DidAssign,
    DidEntryUpdate,
    DidRead,
    EndpointCreate,
    EndpointCredentials,
    EndpointRead,
    TrunkCreate,
    TrunkRead,
)
from callvault.sipedge.sensitive import HA1
from callvault.tenancy import service as tenancy

READ: Final = "sip.read"
MANAGE: Final = "sip.manage"
ASSIGN_DIDS: Final = "sip.did.assign"


def _institution_only(actor: Principal, permission: str) -> None:
    actor.require(permission)
    if actor.is_operator:
        raise PermissionDenied("trunks and agent phones belong to institutions")


def _change(
    session: Session,
    *,
    actor: Principal,
    action: str,
    object_type: str,
    object_id: uuid.UUID,
    reason: str | None = None,
) -> None:
    details: dict[str, Any] = {f"{object_type}_id": str(object_id)}
    if reason is not None:
        details["reason"] = reason
    audit.record(session, actor=actor, action=action, object_type=object_type, object_id=object_id, details=details)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name=action, payload=details)


def _insert(session: Session, row: object, what: str) -> None:
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"{what} exists") from None


# --- trunks ----------------------------------------------------------------------------------------------------


def list_trunks(session: Session, *, actor: Principal, limit: int, cursor: str | None) -> Page[TrunkRead]:
    _institution_only(actor, READ)
    return paginate(
        session, select(SipTrunk), id_column=SipTrunk.id, limit=limit, cursor=cursor, to_read=TrunkRead.model_validate
    )


def _trunk_or_raise(session: Session, trunk_id: uuid.UUID) -> SipTrunk:
    row = session.get(SipTrunk, trunk_id)
    if row is None:
        raise NotFound("no such trunk")
    return row


def get_trunk(session: Session, *, actor: Principal, trunk_id: uuid.UUID) -> TrunkRead:
    _institution_only(actor, READ)
    return TrunkRead.model_validate(_trunk_or_raise(session, trunk_id))


def create_trunk(session: Session, *, actor: Principal, data: TrunkCreate) -> TrunkRead:
    _institution_only(actor, MANAGE)
    row = SipTrunk(
        id=new_id(),
        name=data.name,
        direction=data.direction.value,
        peer_host=data.peer_host,
        peer_port=data.peer_port,
        caller_id_rule=data.caller_id_rule.value,
        caller_id=data.caller_id or "",
    )
    _insert(session, row, "a trunk with this name")
    _change(session, actor=actor, action="sip.trunk.created", object_type="trunk", object_id=row.id)
    read = TrunkRead.model_validate(row)
    session.commit()
    return read


def delete_trunk(session: Session, *, actor: Principal, trunk_id: uuid.UUID) -> None:
    _institution_only(actor, MANAGE)
    session.delete(_trunk_or_raise(session, trunk_id))
    _change(session, actor=actor, action="sip.trunk.deleted", object_type="trunk", object_id=trunk_id)
    session.commit()


# --- DIDs ------------------------------------------------------------------------------------------------------
# A platform table: every query below names the institution itself (the ORM adds no tenant criterion here).


def list_dids(session: Session, *, actor: Principal, limit: int, cursor: str | None) -> Page[DidRead]:
    """The numbers assigned to the actor's institution."""
    _institution_only(actor, READ)
    stmt = select(SipDid).where(SipDid.institution_id == actor.tenant_id)
    return paginate(session, stmt, id_column=SipDid.id, limit=limit, cursor=cursor, to_read=DidRead.model_validate)


def did_inventory(
    session: Session, *, actor: Principal, limit: int, cursor: str | None, institution_id: uuid.UUID | None
) -> Page[DidRead]:
    """The operator's whole inventory, or one institution's part of it."""
    _operator_only(actor)
    stmt = select(SipDid)
    if institution_id is not None:
        stmt = stmt.where(SipDid.institution_id == institution_id)
    return paginate(session, stmt, id_column=SipDid.id, limit=limit, cursor=cursor, to_read=DidRead.model_validate)


def _operator_only(actor: Principal) -> None:
    actor.require(ASSIGN_DIDS)
    if not actor.is_operator:
        raise PermissionDenied("only the operator assigns and releases DIDs")


def _own_did(session: Session, actor: Principal, did_id: uuid.UUID) -> SipDid:
    row = session.get(SipDid, did_id)
    if row is None or (not actor.is_operator and row.institution_id != actor.tenant_id):
        raise NotFound("no such DID")
    return row


def get_did(session: Session, *, actor: Principal, did_id: uuid.UUID) -> DidRead:
    _institution_only(actor, READ)
    return DidRead.model_validate(_own_did(session, actor, did_id))


def assign_did(session: Session, *, actor: Principal, data: DidAssign) -> DidRead:
    """The operator assigns a number of its inventory to one institution, with the entry point calls reach."""
    _operator_only(actor)
    try:
        found = tenancy.get(session, tenant_id=data.institution_id)
    except NotFound:
        found = None
    if found is None or found.is_operator:
        raise InvalidInput.one("institution_id", "no such institution")
    assignment = {"institution_id": data.institution_id, "entry_kind": data.entry_kind.value, "entry": data.entry}
    row = session.scalars(select(SipDid).where(SipDid.number == data.number)).one_or_none()
    if row is None:
        row = SipDid(id=new_id(), number=data.number, **assignment)
        _insert(session, row, "this DID is assigned already; a DID")
    else:
        # A released number of the inventory: claimed only if it is still unassigned when the update runs, so two
        # operators assigning it at once never both succeed.
        claimed = session.execute(
            update(SipDid).where(SipDid.id == row.id, SipDid.institution_id.is_(None)).values(**assignment)
        )
        if cast("CursorResult[Any]", claimed).rowcount != 1:
            raise Conflict("this DID is assigned already")
        session.refresh(row)
    _change(session, actor=actor, action="sip.did.assigned", object_type="did", object_id=row.id)
    read = DidRead.model_validate(row)
    session.commit()
    return read


def _unassign(row: SipDid) -> None:
    row.institution_id = row.entry_kind = row.entry = None


def release_did(session: Session, *, actor: Principal, did_id: uuid.UUID) -> None:
    """The operator takes a number back: it stays in the inventory, unassigned, without an entry point."""
    _operator_only(actor)
    row = _own_did(session, actor, did_id)
    if row.institution_id is None:
        raise Conflict("this DID is not assigned")
    _unassign(row)
    session.flush()
    _change(session, actor=actor, action="sip.did.released", object_type="did", object_id=did_id)
    session.commit()


def release_institution_dids(session: Session, *, actor: Principal, institution_id: uuid.UUID) -> int:
    """Offboarding: every number of the institution back to the operator's inventory; returns how many.

    Runs in the caller's transaction (no commit), so the offboarding job records its step in the same commit; the
    session must be bound to the operator, whose audit chain records each release (the institution's is closed)."""
    _operator_only(actor)
    rows = session.scalars(
        select(SipDid).where(SipDid.institution_id == institution_id).order_by(SipDid.number).with_for_update()
    ).all()
    for row in rows:
        _unassign(row)
    session.flush()
    for row in rows:
        _change(
            session, actor=actor, action="sip.did.released", object_type="did", object_id=row.id, reason="offboarding"
        )
    return len(rows)


def count_institution_dids(session: Session, *, institution_id: uuid.UUID) -> int:
    """How many numbers are still assigned to an institution (offboarding's status report)."""
    stmt = select(func.count()).select_from(SipDid).where(SipDid.institution_id == institution_id)
    return int(session.execute(stmt).scalar_one())


def set_did_entry(session: Session, *, actor: Principal, did_id: uuid.UUID, data: DidEntryUpdate) -> DidRead:
    """An institution points one of its numbers at an IVR flow or a queue."""
    _institution_only(actor, MANAGE)
    row = _own_did(session, actor, did_id)
    if data.entry_kind is not None:
        row.entry_kind = data.entry_kind.value
    if data.entry is not None:
        row.entry = data.entry
    session.flush()
    _change(session, actor=actor, action="sip.did.entry_changed", object_type="did", object_id=row.id)
    read = DidRead.model_validate(row)
    session.commit()
    return read


# --- agent SIP endpoints ---------------------------------------------------------------------------------------


def _endpoint_read(row: SipEndpoint, realm: str) -> EndpointRead:
    return EndpointRead(
        id=row.id,
        username=row.username,
        user_id=row.user_id,
        enabled=row.enabled,
        realm=realm,
        created_at=row.created_at,
    )


def seal_ha1(session: Session, row: SipEndpoint, value: str) -> None:
    row.ha1_ct = vault().cipher.encrypt(value.encode(), context=HA1.context(current_tenant(session), row.id))


def open_ha1(tenant_id: uuid.UUID, row: SipEndpoint) -> str:
    return vault().cipher.decrypt(row.ha1_ct, context=HA1.context(tenant_id, row.id)).decode()


def list_endpoints(session: Session, *, actor: Principal, limit: int, cursor: str | None) -> Page[EndpointRead]:
    _institution_only(actor, READ)
    return paginate(
        session,
        select(SipEndpoint),
        id_column=SipEndpoint.id,
        limit=limit,
        cursor=cursor,
        to_read=lambda row: _endpoint_read(row, actor.tenant_slug),
    )


def _endpoint_or_raise(session: Session, endpoint_id: uuid.UUID) -> SipEndpoint:
    row = session.get(SipEndpoint, endpoint_id)
    if row is None:
        raise NotFound("no such SIP endpoint")
    return row


def get_endpoint(session: Session, *, actor: Principal, endpoint_id: uuid.UUID) -> EndpointRead:
    _institution_only(actor, READ)
    return _endpoint_read(_endpoint_or_raise(session, endpoint_id), actor.tenant_slug)


def create_endpoint(session: Session, *, actor: Principal, data: EndpointCreate) -> EndpointCredentials:
    """An agent phone account; its password is returned this once (the realm is the institution's slug)."""
    _institution_only(actor, MANAGE)
    if data.user_id is not None and session.get(User, data.user_id) is None:
        raise InvalidInput.one("user_id", "unknown user id")
    row = SipEndpoint(id=new_id(), username=data.username, user_id=data.user_id, ha1_ct=b"", enabled=True)
    password = digest.new_password()
    seal_ha1(session, row, digest.ha1(data.username, actor.tenant_slug, password))
    _insert(session, row, "a SIP endpoint with this username")
    _change(session, actor=actor, action="sip.endpoint.created", object_type="endpoint", object_id=row.id)
    read = _endpoint_read(row, actor.tenant_slug)
    session.commit()
    return EndpointCredentials(**read.model_dump(), password=password)


def reset_password(session: Session, *, actor: Principal, endpoint_id: uuid.UUID) -> EndpointCredentials:
    """A new password for an agent phone (the old one stops working at the front's next reload)."""
    _institution_only(actor, MANAGE)
    row = _endpoint_or_raise(session, endpoint_id)
    password = digest.new_password()
    seal_ha1(session, row, digest.ha1(row.username, actor.tenant_slug, password))
    session.flush()
    _change(session, actor=actor, action="sip.endpoint.password_reset", object_type="endpoint", object_id=row.id)
    read = _endpoint_read(row, actor.tenant_slug)
    session.commit()
    return EndpointCredentials(**read.model_dump(), password=password)


def _set_enabled(session: Session, actor: Principal, endpoint_id: uuid.UUID, enabled: bool) -> EndpointRead:
    _institution_only(actor, MANAGE)
    row = _endpoint_or_raise(session, endpoint_id)
    if row.enabled != enabled:  # asking twice changes nothing and records nothing
        row.enabled = enabled
        session.flush()
        action = "sip.endpoint.enabled" if enabled else "sip.endpoint.disabled"
        _change(session, actor=actor, action=action, object_type="endpoint", object_id=row.id)
    read = _endpoint_read(row, actor.tenant_slug)
    session.commit()
    return read


def disable_endpoint(session: Session, *, actor: Principal, endpoint_id: uuid.UUID) -> EndpointRead:
    """Stop an agent phone without deleting it: at the front's next reload its REGISTER is refused (401) and its
    current registration is dropped. Its username, user and credential are kept for `enable_endpoint`."""
    return _set_enabled(session, actor, endpoint_id, False)


def enable_endpoint(session: Session, *, actor: Principal, endpoint_id: uuid.UUID) -> EndpointRead:
    """Let a disabled agent phone register again (same password) from the front's next reload."""
    return _set_enabled(session, actor, endpoint_id, True)


def delete_endpoint(session: Session, *, actor: Principal, endpoint_id: uuid.UUID) -> None:
    _institution_only(actor, MANAGE)
    session.delete(_endpoint_or_raise(session, endpoint_id))
    _change(session, actor=actor, action="sip.endpoint.deleted", object_type="endpoint", object_id=endpoint_id)
    session.commit()
