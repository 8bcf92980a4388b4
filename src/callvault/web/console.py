"""The plumbing of console pages: who is signed in, what they may do, how a page is rendered and how errors look.

Every console route declares the permission it needs through `Allowed(...)`, as API routes do with `Requires`;
the domain's action function checks it again. Writes are forms with the session's CSRF token in a hidden field.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute, APIRouter
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from callvault.api import SESSION_COOKIE, client_ip, db_session
from callvault.core import clock
from callvault.core.errors import DomainError, NotFound, PermissionDenied
from callvault.identity import auth
from callvault.security.principal import Principal
from callvault.web.i18n import LANG_COOKIE, LOCALES, negotiate, translations

# Sent by a page's timed refresh (the wallboard's charts): served, but not counted as the user's activity.
TIMED_REFRESH_HEADER = "X-CallVault-Timed-Refresh"

TEMPLATES: Final = Path(__file__).parent / "templates"
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    permission: str


# The console's sections; a user sees those their permissions open. Labels are catalog message ids.
NAV: Final = (
    NavItem("/console/institutions", "Institutions", "tenant.read"),
    NavItem("/console/today", "Today across institutions", "tenant.read"),
    NavItem("/console/users", "Operators", "user.read"),
    NavItem("/console/roles", "Roles", "role.read"),
    NavItem("/console/api-clients", "API clients", "apiclient.read"),
    NavItem("/console/lists", "Contact lists", "contact.read"),
    NavItem("/console/import-mappings", "Mapping templates", "contact.import"),
    NavItem("/console/dnc", "Do not call", "dnc.read"),
    NavItem("/console/ivr", "IVR flows", "ivr.read"),
    NavItem("/console/campaigns", "Campaigns", "campaign.read"),
    NavItem("/console/wallboard", "Wallboard", "report.read"),
    NavItem("/console/desk", "Agent desktop", "agent.handle"),
    NavItem("/console/records", "Call records", "interaction.read"),
    NavItem("/console/invoices", "Invoices", "billing.read"),
    NavItem("/console/margin", "Margin report", "tenant.manage"),
    NavItem("/console/numbers", "Phone numbers", "sip.did.assign"),
    NavItem("/console/webhooks", "Webhook dead letters", "webhook.manage"),
    NavItem("/console/audit", "Audit trail", "audit.read"),
)


# Outcomes shown after a redirect (?notice=key); the values are catalog message ids.
NOTICES: Final = {
    "saved": "Saved.",
    "created": "Created.",
    "disabled": "The account is disabled.",
    "revoked": "The API client is revoked.",
    "removed": "Removed.",
    "published": "The draft is published.",
    "rolled-back": "The earlier version is published again.",
    "draft-saved": "The draft is saved.",
    "approved": "The campaign is approved.",
    "started": "The campaign is running.",
    "paused": "The campaign is paused.",
    "redelivery-queued": "The delivery is queued again.",
    "number-assigned": "The number is assigned.",
    "number-released": "The number is back in the inventory.",
}


@lru_cache(maxsize=len(LOCALES))
def environment(locale: str) -> Environment:
    """One template environment per language: installing translations per request would race between threads."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["dt"] = _format_time
    env.filters["money"] = _format_money
    return env


def _format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _format_money(value: Decimal | int | None, places: int = 2) -> str:
    """Amounts to the cent (or `places`), rounded half up as on the invoice documents; stored with four places."""
    if value is None:
        return ""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def locale_of(request: Request) -> str:
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def render(
    request: Request, template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    locale = locale_of(request)
    html = environment(locale).get_template(template).render(locale=locale, locales=LOCALES, request=request, **context)
    return HTMLResponse(html, status_code=status, headers=headers)


@dataclass
class Console:
    """A signed-in user on a console page."""

    request: Request
    session: Session
    principal: Principal
    csrf: str

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        p = self.principal
        return render(
            self.request,
            template,
            status=status,
            headers=NO_STORE,
            principal=p,
            csrf=self.csrf,
            nav=[item for item in NAV if p.has(item.permission)],
            watermark=f"{p.actor} · {clock.now():%Y-%m-%d %H:%M:%S} UTC",
            idle_seconds=self.request.app.state.settings.session_idle_seconds,
            notice=NOTICES.get(self.request.query_params.get("notice", ""), ""),
            **context,
        )


def see_other(path: str, *, notice: str = "") -> RedirectResponse:
    return RedirectResponse(f"{path}?notice={notice}" if notice else path, status_code=303)


class LoginRequired(Exception):
    """No live session: the page answers with the sign-in page."""


class EnrolmentRequired(Exception):
    """Signed in with a password but the second factor is not set up yet."""


class CsrfMismatch(DomainError):
    status = 403
    code = "csrf"
    title = "The form expired. Please try again."


async def posted_csrf(request: Request) -> str:
    """The CSRF token of a submitted form (Starlette keeps the parsed form for the route's own Form fields)."""
    if request.method != "POST":
        return ""
    form = await request.form()
    value = form.get("csrf", "")
    return value if isinstance(value, str) else ""


class Allowed:
    """Route dependency of a console page: a full session (password and second factor) holding `permission`."""

    def __init__(self, permission: str | None) -> None:
        self.permission = permission

    def __call__(
        self,
        request: Request,
        session: Annotated[Session, Depends(db_session)],
        csrf: Annotated[str, Depends(posted_csrf)],
    ) -> Console:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise LoginRequired()
        try:
            resolved = auth.resolve_session(
                session,
                token=token,
                source_ip=client_ip(request),
                request_id=getattr(request.state, "request_id", ""),
                touch=not (request.method == "GET" and request.headers.get(TIMED_REFRESH_HEADER) == "1"),
            )
        except DomainError:
            raise LoginRequired() from None
        if resolved.stage != auth.STAGE_FULL:
            raise EnrolmentRequired()
        if request.method == "POST" and not hmac.compare_digest(csrf, resolved.csrf_token):
            raise CsrfMismatch()
        if self.permission:
            resolved.principal.require(self.permission)
        return Console(request=request, session=session, principal=resolved.principal, csrf=resolved.csrf_token)


def allowed(permission: str | None) -> Any:
    return Depends(Allowed(permission))


def object_id(raw: str) -> uuid.UUID:
    """An id from a page URL; anything that is not one is simply a page that does not exist."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("no such page") from None


class ConsoleRoute(APIRoute):
    """Answers errors of console pages as pages: sign-in redirect, 403, 404, 409, never a stack trace."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return RedirectResponse("/login", status_code=303)
            except EnrolmentRequired:
                return RedirectResponse("/enrol", status_code=303)
            except PermissionDenied:
                return render(request, "error.html", status=403, headers=NO_STORE, code=403, principal=None)
            except DomainError as exc:
                return render(
                    request, "error.html", status=exc.status, headers=NO_STORE, code=exc.status, principal=None
                )
            except RequestValidationError:
                # A hand-edited query string or form (say ?before=abc): a page, not a JSON problem.
                return render(request, "error.html", status=400, headers=NO_STORE, code=400, principal=None)

        return route


def console_router() -> APIRouter:
    return APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


def page_policy(route: APIRoute) -> Allowed | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Allowed):
            return dep.call
        stack.extend(dep.dependencies)
    return None


def check_console_policies(routes: list[tuple[str, APIRoute]]) -> None:
    """Deny by default, as for the API: refuse to start if a console page declares no `Allowed(...)`."""
    missing = [path for path, route in routes if path.startswith("/console") and page_policy(route) is None]
    if missing:
        raise RuntimeError("console pages without a declared permission: " + ", ".join(sorted(missing)))
