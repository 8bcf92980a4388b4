"""Login, logout, two-factor enrolment and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response, status
from sqlalchemy.orm import Session

from callvault.api import (
    PUBLIC,
    SESSION_COOKIE,
    RequestContext,
    Requires,
    client_ip,
    db_session,
    domain_router,
    set_session_cookie,
)
from callvault.identity import auth
from callvault.identity.schemas import LoginRequest, LoginResult, Me, TotpConfirm, TotpEnrolment

router = domain_router("/auth", "authentication")

Enrolling = Annotated[RequestContext, Depends(Requires(None, during_enrolment=True))]


@router.post("/login", response_model=LoginResult, dependencies=[PUBLIC], summary="Log in (password + TOTP)")
def login(
    data: LoginRequest, request: Request, response: Response, session: Annotated[Session, Depends(db_session)]
) -> LoginResult:
    issued = auth.login(
        session, data=data, source_ip=client_ip(request), request_id=getattr(request.state, "request_id", "")
    )
    set_session_cookie(request, response, issued.token)
    return LoginResult(stage=issued.stage, csrf_token=issued.csrf_token, expires_at=issued.expires_at)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Log out and revoke the session")
def logout(ctx: Enrolling) -> Response:
    if ctx.auth_session_id is not None:
        auth.logout(ctx.session, actor=ctx.principal, auth_session_id=ctx.auth_session_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=Me, summary="Who am I")
def me(ctx: Enrolling) -> Me:
    p = ctx.principal
    return Me(
        kind=p.kind,
        id=p.id,
        name=p.name,
        tenant_id=p.tenant_id,
        tenant_slug=p.tenant_slug,
        tenant_kind=p.tenant_kind,
        permissions=sorted(p.permissions),
    )


@router.post("/totp/enrol", response_model=TotpEnrolment, summary="Start TOTP enrolment")
def totp_enrol(ctx: Enrolling) -> TotpEnrolment:
    return auth.start_totp_enrolment(ctx.session, actor=ctx.principal)


@router.post("/totp/confirm", status_code=status.HTTP_204_NO_CONTENT, summary="Confirm TOTP enrolment")
def totp_confirm(data: TotpConfirm, ctx: Enrolling) -> Response:
    if ctx.auth_session_id is not None:
        auth.confirm_totp_enrolment(
            ctx.session, actor=ctx.principal, auth_session_id=ctx.auth_session_id, code=data.code
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
