"""The agent desktop channel: a WebSocket that pushes the agent's state changes and offered calls with their screen
pop, and takes the agent's commands (accept/reject an offer; hold, unhold, hang up, transfer a connected call).

Authentication is the browser session cookie, as for every console request (a WebSocket cannot carry the CSRF
header, so a handshake from another site's page is refused by its Origin). The subscription is keyed by the
agent's institution and user id: another institution's events never reach it.

The screen pop shows the caller's contact record masked through the contacts service with the agent's own
permissions; unmasking stays with the audited reveal endpoint (`contact.reveal`). Digits the caller keyed in the
IVR may be account or ID numbers: menu choices (one or two keys) are shown, longer entries only masked.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from callvault.acd import service
from callvault.acd.hub import AcdEvent
from callvault.acd.owner import CALL_COMMANDS, AcdOwners, TenantOwner
from callvault.api import SESSION_COOKIE, domain_router
from callvault.contacts import service as contacts
from callvault.core.db import Database
from callvault.core.errors import DomainError, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from callvault.core.tenant_context import set_tenant
from callvault.identity import auth
from callvault.security.principal import Principal
from callvault.security.redaction import RedactionStyle, redact_text

log = structlog.get_logger(__name__)
router = domain_router("", "acd")

# Close codes of the handshake refusals (4000-4999 are the application's).
UNAUTHENTICATED, FORBIDDEN = 4401, 4403
FORWARDED = frozenset({"agent_state", "offer", "offer_withdrawn"})
MENU_CHOICE_MAX = 2


def mask_digits(entry: str) -> str:
    return entry if len(entry) <= MENU_CHOICE_MAX else "*" * len(entry)


_LONG_NUMBER = re.compile(r"\d{9,}")


def mask_numbers(value: str) -> str:
    """Digit runs long enough to be an account, card, ID or phone number (9+) keep their last four digits only;
    amounts and codes stay readable. Also what the log redaction finds (a number written with spaces or dashes)."""
    value = redact_text(value, style=RedactionStyle.MASK)
    return _LONG_NUMBER.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], value)


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser page (desk phones' softclients, tests)
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host", "")


def _authenticate(db: Database, websocket: WebSocket) -> Principal:
    token = websocket.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("log in first")
    client = websocket.client.host if websocket.client else ""
    with db.scoped() as session:
        resolved = auth.resolve_session(session, token=token, source_ip=client, request_id="")
    if resolved.stage != auth.STAGE_FULL:
        raise auth.TotpEnrolmentRequired()
    resolved.principal.require(service.HANDLE)
    return resolved.principal


def screen_pop(db: Database, principal: Principal, offer: dict[str, Any]) -> dict[str, Any]:
    """The offered call as the agent may see it: ids, queue, IVR path, masked digits and the masked contact."""
    contact: dict[str, Any] | None = None
    contact_id = offer.get("contact_id")
    if contact_id and principal.has("contact.read"):
        with db.scoped() as session:
            set_tenant(session, principal.tenant_id)
            try:
                read = contacts.get_contact(session, actor=principal, contact_id=uuid.UUID(contact_id))
                contact = read.model_dump(mode="json")
            except NotFound:
                contact = None  # purged since the call was queued
    return {
        "type": "offer",
        "call_id": offer["call_id"],
        "queue_id": offer["queue_id"],
        "queue": offer["queue"],
        "offered_at": offer["offered_at"],
        "interaction_id": offer["interaction_id"],
        "ivr_path": offer["ivr_path"],
        "digits": [mask_digits(d) for d in offer["digits"]],
        "contact": contact,
        # The institution look-up's answer, for agents who may read customer records; numbers in it masked.
        "lookup": [[key, mask_numbers(value)] for key, value in offer.get("lookup", [])]
        if principal.has("contact.read")
        else [],
    }


@router.websocket("/agents/me/ws")
async def agent_desktop(websocket: WebSocket) -> None:
    owners: AcdOwners = websocket.app.state.acd
    db: Database = websocket.app.state.db
    if not _same_origin(websocket):
        await websocket.close(code=FORBIDDEN)
        return
    try:
        principal = await run_in_threadpool(_authenticate, db, websocket)
    except DomainError as exc:
        await websocket.close(code=FORBIDDEN if isinstance(exc, PermissionDenied) else UNAUTHENTICATED)
        return
    agent_id = principal.id
    assert agent_id is not None  # a session is always a user's
    owner = await run_in_threadpool(owners.for_principal, principal)
    sub = owners.hub.subscribe(principal.tenant_id, agent_id)
    await websocket.accept()
    try:
        view = await run_in_threadpool(owner.agent_view, agent_id)
        await websocket.send_json({"type": "state", **{k: v for k, v in view.items() if k != "offer"}})
        if view.get("offer"):
            await websocket.send_json(await run_in_threadpool(screen_pop, db, principal, view["offer"]))
        pushing = asyncio.create_task(_push(websocket, sub.next, db, principal))
        commands = asyncio.create_task(_commands(websocket, owners, owner, agent_id))
        watching = asyncio.create_task(_watch_session(websocket, db, owners.session_check_seconds))
        done, pending = await asyncio.wait({pushing, commands, watching}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            if not isinstance(task.exception(), WebSocketDisconnect | None):
                log.warning("agent desktop channel failed", error=type(task.exception()).__name__)
    except WebSocketDisconnect:
        pass
    finally:
        sub.close()


async def _watch_session(websocket: WebSocket, db: Database, every: float) -> None:
    """Close the channel once the session ends (logout, timeout, user disabled); an open desktop counts as activity,
    as its requests would."""
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(_authenticate, db, websocket)
        except DomainError:
            await websocket.close(code=UNAUTHENTICATED)
            return


async def _push(websocket: WebSocket, next_event: Any, db: Database, principal: Principal) -> None:
    while True:
        event: AcdEvent | None = await next_event()
        if event is None or event.kind not in FORWARDED:
            continue
        if event.kind == "offer":
            await websocket.send_json(await run_in_threadpool(screen_pop, db, principal, event.data))
        elif event.kind == "agent_state":
            await websocket.send_json({"type": "state", "seat": True, **event.data})
        else:
            await websocket.send_json({"type": event.kind, **event.data})


async def _commands(websocket: WebSocket, owners: AcdOwners, owner: TenantOwner, agent_id: uuid.UUID) -> None:
    while True:
        message = await websocket.receive_json()
        command = message.get("type") if isinstance(message, dict) else None
        try:
            if command not in ("accept", "reject", *CALL_COMMANDS):
                raise NotFound(f"unknown command; use accept, reject, {', '.join(CALL_COMMANDS)}")
            try:
                call_id = uuid.UUID(str(message.get("call_id")))
            except ValueError:
                raise NotFound("no such call of this agent") from None
            if command == "accept":
                await run_in_threadpool(owner.accept, agent_id=agent_id, call_id=call_id)
            elif command == "reject":
                await run_in_threadpool(owner.reject, agent_id=agent_id, call_id=call_id)
            else:
                await _call_command(owners, owner.tenant_id, agent_id, call_id, str(command), message)
        except DomainError as exc:
            await websocket.send_json(
                {"type": "error", "command": command, "status": exc.status, "title": exc.title, "detail": exc.detail}
            )
            continue
        await websocket.send_json({"type": "ack", "command": command, "call_id": str(call_id)})


async def _call_command(
    owners: AcdOwners,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    call_id: uuid.UUID,
    command: str,
    message: dict[str, Any],
) -> None:
    """Hold, unhold, hang up or transfer the agent's connected call, on the switchboard that carries it (its own
    event loop, usually the services' calls thread)."""
    queue_id = to_agent = None
    if command == "transfer":
        field = "agent_id" if message.get("agent_id") else "queue_id"
        try:
            target = uuid.UUID(str(message.get(field)))
        except ValueError:
            raise InvalidInput.one(field, "a queue id or an agent id of the institution is required") from None
        queue_id, to_agent = (None, target) if field == "agent_id" else (target, None)
    control = owners.control_of(tenant_id, call_id)
    if control is None or control.loop is None:
        raise NotFound("no such call of this agent carried by telephony here")
    work = control.control(
        tenant_id=tenant_id, agent_id=agent_id, call_id=call_id, command=command, queue_id=queue_id, to_agent=to_agent
    )
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, control.loop))
