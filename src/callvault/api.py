"""API plumbing: problem+json errors, authentication, permission dependencies, idempotency, router registry."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, cast

import structlog
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import Table, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from callvault.core import clock
from callvault.core.db import Database, release_unused_turn, take_writer_turn
from callvault.core.errors import Conflict, DomainError, FieldError, InvalidInput, Unauthenticated
from callvault.core.ids import new_id
from callvault.core.tenant_context import current_tenant, set_tenant
from callvault.identity import api_clients, auth
from callvault.identity.models import IdempotencyRecord
from callvault.security.principal import Principal

log = structlog.get_logger(__name__)

SESSION_COOKIE = "callvault_session"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROBLEM = "application/problem+json"


# --- problem+json ---------------------------------------------------------------------------------------------


class ProblemField(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str = ""
    errors: list[ProblemField] = []


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        "description": desc,
    }
    for status, desc in (
        (400, "Malformed request"),
        (401, "Not authenticated"),
        (403, "Not permitted"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Body too large"),
        (422, "Invalid input"),
    )
}


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str = "",
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"urn:callvault:problem:{code}",
        title=title,
        status=status,
        detail=detail or title,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", ""),
        errors=[ProblemField(field=e.field, reason=e.reason) for e in errors or []],
    )
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM, headers=headers)


def _validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors: list[FieldError] = []
    malformed = False
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if err.get("type") == "json_invalid":
            malformed = True
        errors.append(FieldError(".".join(loc) or "body", str(err.get("msg", "invalid"))))
    if malformed:
        return problem(
            request,
            status=400,
            code="malformed-json",
            title="Malformed JSON body",
            detail="the body is not valid JSON",
            errors=errors,
        )
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
    return problem(request, status=422, code="invalid-input", title="Invalid input", detail=detail, errors=errors)


def problem_from_exception(request: Request, exc: Exception) -> Response:
    if isinstance(exc, IdempotentReplay):
        return Response(
            exc.body,
            status_code=exc.status,
            media_type=exc.media_type,
            headers={"Idempotent-Replayed": "true"},
        )
    if isinstance(exc, InvalidInput):
        return problem(request, status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors)
    if isinstance(exc, DomainError):
        return problem(request, status=exc.status, code=exc.code, title=exc.title, detail=exc.detail)
    if isinstance(exc, RequestValidationError):
        return _validation_problem(request, exc)
    if isinstance(exc, StarletteHTTPException):
        code = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}.get(exc.status_code, "http")
        return problem(
            request, status=exc.status_code, code=code, title=str(exc.detail), headers=dict(exc.headers or {})
        )
    log.exception("unhandled error", exc_info=exc)
    return problem(
        request,
        status=500,
        code="internal",
        title="Internal error",
        detail="the request failed; quote the request id when reporting it",
    )


def install_problem_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> Response:
        return problem_from_exception(request, exc)

    for exc_type in (DomainError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, handle)


# --- request context and authentication -----------------------------------------------------------------------


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def db_session(request: Request) -> Iterator[Session]:
    with get_db(request).scoped() as session:
        request.state.db_session = session
        yield session


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """The browser session cookie: HttpOnly, SameSite=Strict, Secure unless the installation serves plain HTTP."""
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        max_age=settings.session_absolute_seconds,
        path="/",
    )


async def raw_body(request: Request) -> bytes:
    body = await request.body()
    request.state.raw_body = body
    return body


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@dataclass
class RequestContext:
    session: Session
    principal: Principal
    auth_session_id: uuid.UUID | None
    stage: str


def authenticated(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    body: Annotated[bytes, Depends(raw_body)],
) -> RequestContext:
    """Resolve the caller: an HMAC-signed API client, or a browser session cookie (with CSRF on writes)."""
    return resolve_caller(request, session, body=body)


async def writer_turn(request: Request) -> None:
    """SQLite: the process's write lock, taken in the event loop before a one-commit request's first statement."""
    request.state.writer_turn = await take_writer_turn(get_db(request).engine)


async def one_commit_session(request: Request) -> AsyncIterator[Session]:
    """`db_session` without the two worker-thread hops: a new session does no I/O until its first statement, and
    `CallVaultRoute` ends its transaction before this closes it (closing a session outside a transaction does no
    I/O either)."""
    session = get_db(request).session()
    request.state.db_session = session
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


def resolve_caller(
    request: Request, session: Session, *, body: bytes, body_sha256: str | None = None, one_commit: bool = False
) -> RequestContext:
    """`authenticated` for a body already read (`body`) or streamed to disk (its `body_sha256`)."""
    ip, rid = client_ip(request), getattr(request.state, "request_id", "")
    if "x-callvault-key" in request.headers:
        principal = api_clients.authenticate(
            session,
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            source_ip=ip,
            request_id=rid,
            body_sha256=body_sha256,
            commit=not one_commit,
        )
        ctx = RequestContext(session=session, principal=principal, auth_session_id=None, stage=auth.STAGE_FULL)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthenticated("log in or sign the request")
        resolved = auth.resolve_session(session, token=token, source_ip=ip, request_id=rid)
        if request.method in UNSAFE_METHODS and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, ""), resolved.csrf_token
        ):
            raise CsrfRejected()
        ctx = RequestContext(
            session=session,
            principal=resolved.principal,
            auth_session_id=resolved.auth_session_id,
            stage=resolved.stage,
        )
    if one_commit:
        signed = "x-callvault-key" in request.headers
        nonce = (request.headers["x-callvault-key"], request.headers.get("x-callvault-nonce", "")) if signed else None
        watch_one_commit(request, session, ctx.principal.tenant_id).nonce = nonce
    structlog.contextvars.bind_contextvars(tenant=ctx.principal.tenant_slug, actor=ctx.principal.actor)
    return ctx


class CsrfRejected(DomainError):
    status = 403
    code = "csrf"
    title = "Missing or wrong X-CSRF-Token header"


class Requires:
    """Route dependency declaring the permission a route needs. Every /api/v1 route must have one (or Public)."""

    def __init__(self, permission: str | None, *, during_enrolment: bool = False, store_responses: bool = True) -> None:
        self.permission = permission
        self.during_enrolment = during_enrolment
        # False for POSTs whose responses hold plaintext that must never be stored for replays: reveals (each
        # repetition is audited again) and the routes that show a new secret once. An Idempotency-Key is ignored.
        self.store_responses = store_responses

    def __call__(self, request: Request, ctx: Annotated[RequestContext, Depends(authenticated)]) -> RequestContext:
        return self.admit(request, ctx)

    def admit(self, request: Request, ctx: RequestContext, *, one_commit: bool = False) -> RequestContext:
        if ctx.stage != auth.STAGE_FULL and not self.during_enrolment:
            raise auth.TotpEnrolmentRequired()
        if self.permission:
            ctx.principal.require(self.permission)
        if request.method == "POST" and "idempotency-key" in request.headers and self.store_responses:
            begin_idempotent(request, ctx, commit=not one_commit)
        return ctx


class RequiresOneCommit(Requires):
    """`Requires` for a POST action whose whole request is one transaction: the signed request's nonce, the
    Idempotency-Key reservation, the action's rows, audit record and event, and the stored response (the route
    calls `store_idempotent_response` before the action commits) are committed together, so the request costs one
    durable commit instead of four. A crash before that commit leaves nothing (a retry with the same key runs
    again); a request that fails is answered and then its nonce and, under 500, its response are written in a
    transaction of their own, as `Requires` would have done (`finish_one_commit`)."""

    def __call__(  # type: ignore[override]  # its own dependencies: one step instead of two
        self,
        request: Request,
        body: Annotated[bytes, Depends(raw_body)],
        _turn: Annotated[None, Depends(writer_turn)],
        session: Annotated[Session, Depends(one_commit_session)],
    ) -> RequestContext:
        # Authentication and admission in one worker-thread step (each framework step is a thread hop).
        ctx = resolve_caller(request, session, body=body, one_commit=True)
        return self.admit(request, ctx, one_commit=True)


class Public:
    """Marks a route that needs no authentication (login, health)."""

    def __call__(self) -> None:
        return None


def requires(permission: str | None, *, during_enrolment: bool = False) -> Any:
    return Depends(Requires(permission, during_enrolment=during_enrolment))


PUBLIC = Depends(Public())
Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{22}$", description="next_cursor of the previous page")]


# --- idempotency ----------------------------------------------------------------------------------------------


class IdempotentReplay(Exception):
    def __init__(self, status: int, body: bytes, media_type: str) -> None:
        self.status, self.body, self.media_type = status, body, media_type


@dataclass
class PendingIdempotency:
    tenant_id: uuid.UUID
    record_id: uuid.UUID
    principal: str = ""
    key: str = ""
    request_hash: str = ""
    # The session whose open transaction holds the reservation (one-commit routes), and whether the response was
    # already put in it.
    session: Session | None = None
    stored: bool = False


_IDEMPOTENCY = cast(Table, IdempotencyRecord.__table__)


def _reserve(session: Session, values: dict[str, Any]) -> bool:
    """Insert the reservation unless the key is taken (a retry, or a concurrent first use): one statement for the
    usual first use instead of a look-up and an insert. On PostgreSQL a concurrent first use waits for the other
    transaction and then finds its row."""
    conn = session.connection()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    # RETURNING rather than rowcount: psycopg reports no row count for this statement.
    stmt = insert(_IDEMPOTENCY).on_conflict_do_nothing().returning(_IDEMPOTENCY.c.id)
    return conn.execute(stmt, values).first() is not None


def begin_idempotent(request: Request, ctx: RequestContext, *, commit: bool = True) -> None:
    """First use of a key reserves it; a retry gets the stored response; a different request with it, 422.

    ``commit=False`` leaves the reservation in the open transaction (written at once: a concurrent first use of
    the key waits on or finds it, through the unique constraint)."""
    key = request.headers["idempotency-key"]
    if not (1 <= len(key) <= 255):
        raise InvalidInput.one("Idempotency-Key", "must have 1 to 255 characters")
    body: bytes = getattr(request.state, "raw_body", b"")
    digest = hashlib.sha256(f"{request.method} {request.url.path}?{request.url.query}\n".encode() + body).hexdigest()
    session, principal = ctx.session, ctx.principal
    record_id = new_id()
    values = {
        "id": record_id,
        "tenant_id": current_tenant(session),
        "created_at": clock.now(),
        "principal": principal.actor,
        "key": key,
        "request_hash": digest,
        "status_code": None,
        "body": None,
    }
    if _reserve(session, values):
        if commit:
            session.commit()
        request.state.idempotency = PendingIdempotency(
            tenant_id=principal.tenant_id,
            record_id=record_id,
            principal=principal.actor,
            key=key,
            request_hash=digest,
            session=None if commit else session,
        )
        return
    existing = session.execute(
        select(IdempotencyRecord.request_hash, IdempotencyRecord.status_code, IdempotencyRecord.body).where(
            IdempotencyRecord.principal == principal.actor, IdempotencyRecord.key == key
        )
    ).one_or_none()
    if existing is None:
        # The first use failed on our side (500) and its reservation was dropped meanwhile: retry.
        raise Conflict("a request with this Idempotency-Key is in progress")
    if existing.request_hash != digest:
        raise InvalidInput.one("Idempotency-Key", "was used for a different request")
    if existing.status_code is None:
        raise Conflict("a request with this Idempotency-Key is in progress")
    raise IdempotentReplay(existing.status_code, existing.body or b"", _media_type(existing.status_code))


def store_idempotent_response(request: Request, response: Response) -> None:
    """Put the response in the Idempotency-Key reservation still open in the request's transaction (one-commit
    routes), so it is committed with the action. No-op without an Idempotency-Key."""
    pending: PendingIdempotency | None = getattr(request.state, "idempotency", None)
    if pending is None or pending.session is None:
        return
    pending.session.connection().execute(
        update(_IDEMPOTENCY)
        .where(_IDEMPOTENCY.c.id == pending.record_id)
        .values(status_code=response.status_code, body=bytes(response.body))
    )
    pending.stored = True


def _media_type(status: int) -> str:
    return "application/json" if status < 400 else PROBLEM


def finish_idempotent(db: Database, pending: PendingIdempotency, response: Response) -> None:
    with db.scoped() as session:
        set_tenant(session, pending.tenant_id)
        record = session.get(IdempotencyRecord, pending.record_id)
        if record is None:
            return
        if response.status_code >= 500:
            session.delete(record)  # let the client retry a failure that was ours
        else:
            record.status_code = response.status_code
            record.body = bytes(response.body)
        session.commit()


# --- one commit per request -----------------------------------------------------------------------------------

_ONE_COMMIT_KEY = "callvault.one_commit"


@dataclass
class OneCommit:
    """What a one-commit request left in its open transaction, and how that transaction ended."""

    tenant_id: uuid.UUID
    nonce: tuple[str, str] | None = None
    committed: bool = False
    ended: bool = False


def watch_one_commit(request: Request, session: Session, tenant_id: uuid.UUID) -> OneCommit:
    state = OneCommit(tenant_id=tenant_id)
    session.info[_ONE_COMMIT_KEY] = state
    request.state.one_commit = state
    return state


@event.listens_for(Session, "after_commit")
def _one_commit_committed(session: Session) -> None:
    state: OneCommit | None = session.info.get(_ONE_COMMIT_KEY)
    if state is not None and not state.ended:
        state.committed = state.ended = True


@event.listens_for(Session, "after_rollback")
def _one_commit_rolled_back(session: Session) -> None:
    state: OneCommit | None = session.info.get(_ONE_COMMIT_KEY)
    if state is not None:
        state.ended = True


def finish_one_commit(db: Database, state: OneCommit, pending: PendingIdempotency | None, response: Response) -> None:
    """The request's transaction did not commit (it failed, or it was a replay): its nonce stays used and, under
    500, its answer is stored for retries with the same key, as the two-step path does."""
    with db.scoped() as session:
        set_tenant(session, state.tenant_id)
        if state.nonce is not None:
            key_id, nonce = state.nonce
            if not api_clients.record_nonce(session, key_id=key_id, nonce=nonce):
                set_tenant(session, state.tenant_id)
        if pending is not None and response.status_code < 500:
            session.add(
                IdempotencyRecord(
                    principal=pending.principal,
                    key=pending.key,
                    request_hash=pending.request_hash,
                    status_code=response.status_code,
                    body=bytes(response.body),
                )
            )
            try:
                session.flush()
            except IntegrityError:
                session.rollback()  # a concurrent request with the key answered first: its answer stands
                return
        session.commit()


class CallVaultRoute(APIRoute):
    """Turns every error into problem+json inside the route, so idempotent responses can be stored as sent."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                try:
                    response = await handler(request)
                except Exception as exc:
                    response = problem_from_exception(request, exc)
                # End the request's transaction now, not when the framework tears dependencies down: an error
                # raised mid-transaction would otherwise keep SQLite's write lock while the response is stored.
                session: Session | None = getattr(request.state, "db_session", None)
                if session is not None:
                    if session.in_transaction():
                        await run_in_threadpool(session.close)
                    else:
                        session.close()  # committed already: nothing to end, no I/O, no thread hop
            finally:
                release_unused_turn(getattr(request.state, "writer_turn", None))
            pending: PendingIdempotency | None = getattr(request.state, "idempotency", None)
            one_commit: OneCommit | None = getattr(request.state, "one_commit", None)
            if one_commit is not None and not one_commit.committed:
                await run_in_threadpool(finish_one_commit, get_db(request), one_commit, pending, response)
            elif pending is not None and not pending.stored:
                await run_in_threadpool(finish_idempotent, get_db(request), pending, response)
            return response

        return route


def domain_router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(prefix=prefix, tags=[tag], route_class=CallVaultRoute, responses=PROBLEM_RESPONSES)


# --- registry -------------------------------------------------------------------------------------------------


# Routes that take file uploads: streamed to disk, under the upload size limit instead of the body limit.
UPLOAD_PATHS = re.compile(r"/api/v1/contact-lists/[^/]+/imports")


def api_router() -> APIRouter:
    from callvault.acd import desktop as acd_desktop
    from callvault.acd import views as acd_views
    from callvault.billing import views as billing_views
    from callvault.campaigns import views as campaign_views
    from callvault.contacts import import_views, mapping_views
    from callvault.contacts import views as contact_views
    from callvault.dnc import views as dnc_views
    from callvault.identity import api_client_views, auth_views
    from callvault.identity import views as identity_views
    from callvault.interactions import views as interaction_views
    from callvault.ivr import views as ivr_views
    from callvault.security import audit_views
    from callvault.sipedge import views as sip_views
    from callvault.tenancy import views as tenancy_views
    from callvault.trigger import views as trigger_views
    from callvault.webhooks import views as webhook_views

    router = APIRouter(prefix="/api/v1")
    # Routes are matched in order, one by one: the trigger API, the busiest path by far, goes first (no other
    # router has a path under /calls, so the order changes no match).
    modules = (
        trigger_views,
        auth_views,
        tenancy_views,
        identity_views,
        api_client_views,
        contact_views,
        import_views,
        mapping_views,
        dnc_views,
        audit_views,
        ivr_views,
        billing_views,
        webhook_views,
        campaign_views,
        interaction_views,
        acd_views,
        acd_desktop,
        sip_views,
    )
    for module in modules:
        router.include_router(module.router)
    return router


@dataclass(frozen=True)
class MountedRoute:
    """An API route as mounted in the app: full path, methods, and the route object declaring it."""

    path: str
    methods: frozenset[str]
    route: APIRoute


def mounted_routes(app: FastAPI) -> list[MountedRoute]:
    """Every APIRoute of the app with its full path, including those of included routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI versions that flatten included routers into app.routes
        return [MountedRoute(r.path, frozenset(r.methods or ()), r) for r in app.routes if isinstance(r, APIRoute)]
    out = []
    for ctx in iter_route_contexts(app.routes):
        original = ctx.original_route
        if isinstance(original, APIRoute) and ctx.path:
            out.append(MountedRoute(ctx.path, frozenset(ctx.methods or ()), original))
    return out


def route_policy(route: APIRoute) -> Requires | Public | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Requires | Public):
            return dep.call
        stack.extend(dep.dependencies)
    return None


def check_route_policies(app: FastAPI) -> None:
    """Deny by default: refuse to start if an API route declares neither a permission nor Public."""
    missing = [
        f"{sorted(m.methods)} {m.path}"
        for m in mounted_routes(app)
        if m.path.startswith("/api/v1") and route_policy(m.route) is None
    ]
    if missing:
        raise RuntimeError("API routes without a declared permission: " + ", ".join(missing))
