"""HTML pages: login with TOTP, second-factor enrolment, the console home, language switch."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from callvault.api import SESSION_COOKIE, client_ip, db_session, set_session_cookie
from callvault.core.errors import DomainError
from callvault.identity import auth
from callvault.identity.schemas import LoginRequest
from callvault.web.console import Console, allowed, console_router, render
from callvault.web.i18n import LANG_COOKIE, LOCALES

router = APIRouter(include_in_schema=False)
home = console_router()
LOGIN_CSRF_COOKIE = "callvault_login_csrf"


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.cookie_secure)


def _session_principal(request: Request, session: Session) -> auth.SessionPrincipal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return auth.resolve_session(
            session, token=token, source_ip=client_ip(request), request_id=getattr(request.state, "request_id", "")
        )
    except DomainError:
        return None


def routers() -> list[APIRouter]:
    """Every router of the web consoles: sign-in pages, then the console sections."""
    from callvault.web import (
        acd_pages,
        admin_pages,
        audit_pages,
        billing_pages,
        campaign_pages,
        contact_pages,
        ivr_pages,
        mapping_pages,
        number_pages,
        operator_pages,
        record_pages,
        webhook_pages,
    )

    return [
        router,
        home,
        admin_pages.router,
        contact_pages.router,
        mapping_pages.router,
        ivr_pages.router,
        audit_pages.router,
        operator_pages.router,
        number_pages.router,
        campaign_pages.router,
        record_pages.router,
        billing_pages.router,
        webhook_pages.router,
        acd_pages.router,
    ]


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", csrf=token, error=None, form={})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, secure=_secure(request), samesite="strict")
    return response


@router.post("/login")
def login_submit(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    institution: Annotated[str, Form(max_length=40)] = "",
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    totp: Annotated[str, Form(max_length=10)] = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    form = {"institution": institution, "username": username}
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf):
        return render(request, "login.html", status=403, csrf=expected, error="csrf", form=form)
    try:
        data = LoginRequest(
            institution=institution, username=username or "-", password=password or "-", totp=totp or None
        )
        issued = auth.login(
            session, data=data, source_ip=client_ip(request), request_id=getattr(request.state, "request_id", "")
        )
    except DomainError as exc:
        return render(request, "login.html", status=exc.status, csrf=expected, error=exc.code, form=form)
    target = "/console" if issued.stage == auth.STAGE_FULL else "/enrol"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, issued.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.get("/enrol")
def enrol_page(request: Request, session: Annotated[Session, Depends(db_session)]) -> Response:
    current = _session_principal(request, session)
    if current is None:
        return RedirectResponse("/login", status_code=303)
    if current.stage == auth.STAGE_FULL:
        return RedirectResponse("/console", status_code=303)
    enrolment = auth.start_totp_enrolment(session, actor=current.principal)
    qr_svg = segno.make(enrolment.otpauth_uri, error="m").svg_inline(scale=5, light="white")
    return render(request, "enrol.html", qr_svg=qr_svg, secret=enrolment.secret, csrf=current.csrf_token, error=None)


@router.post("/enrol")
def enrol_submit(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    code: Annotated[str, Form(max_length=6)] = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    current = _session_principal(request, session)
    if current is None:
        return RedirectResponse("/login", status_code=303)
    if not hmac.compare_digest(current.csrf_token, csrf):
        return Response(status_code=403)
    try:
        auth.confirm_totp_enrolment(
            session, actor=current.principal, auth_session_id=current.auth_session_id, code=code
        )
    except DomainError:
        return RedirectResponse("/enrol?error=code", status_code=303)
    return RedirectResponse("/console", status_code=303)


@home.get("")
def console_page(console: Annotated[Console, allowed(None)]) -> Response:
    return console.render("console.html", permissions=sorted(console.principal.permissions))


@router.post("/logout")
def logout_submit(
    request: Request,
    session: Annotated[Session, Depends(db_session)],
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    current = _session_principal(request, session)
    if current is not None and hmac.compare_digest(current.csrf_token, csrf):
        auth.logout(session, actor=current.principal, auth_session_id=current.auth_session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{locale}")
def switch_language(request: Request, locale: str, next: str = "/login") -> Response:
    # Referer is never sent (Referrer-Policy: no-referrer), so the page names itself; only local paths are
    # accepted, never another site.
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/login"
    response = RedirectResponse(target, status_code=303)
    if locale in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, samesite="lax", secure=_secure(request), max_age=365 * 86400)
    return response
