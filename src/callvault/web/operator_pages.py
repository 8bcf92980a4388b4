"""Operator console: the institutions, their status and how much each holds; never a customer's data."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from callvault.core.db import Database
from callvault.core.errors import Conflict, FieldError, InvalidInput
from callvault.migrations.runner import is_at_head
from callvault.tenancy import day_totals, totals
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantCreate, TenantUpdate
from callvault.web.console import Console, allowed, console_router, object_id, see_other
from callvault.web.forms import field_errors

router = console_router()
log = structlog.get_logger(__name__)


@router.get("/institutions")
def institutions_page(console: Annotated[Console, allowed("tenant.read")]) -> Response:
    return _institutions(console)


def _institutions(
    console: Console, *, errors: list[FieldError] | None = None, form: dict[str, str] | None = None
) -> Response:
    rows = totals.institution_totals(console.session, actor=console.principal)
    grand = {name: sum(r.counts.get(name, 0) for r in rows) for name in totals.COUNTED}
    return console.render(
        "institutions.html",
        status=422 if errors else 200,
        institutions=rows,
        columns=totals.COUNTED,
        grand=grand,
        errors=errors or [],
        form=form or {},
    )


@router.get("/today")
def today_page(request: Request, console: Annotated[Console, allowed(day_totals.READ)]) -> Response:
    """Today across institutions (counts only) and the health of the system."""
    rows = day_totals.institutions_today(console.session, actor=console.principal)
    grand = {name: sum(r.counts[name] for r in rows) for name in day_totals.DAY_COUNTED}
    return console.render(
        "operator_today.html",
        institutions=rows,
        columns=day_totals.DAY_COUNTED,
        grand=grand,
        health=_health(request, console),
    )


def _health(request: Request, console: Console) -> dict[str, object]:
    """What /readyz checks (database reachable, schema current) plus this process's routing owners."""
    db: Database = request.app.state.db
    # The checks use connections of their own: on SQLite the page's open transaction would hold the write lock.
    if console.session.in_transaction():
        console.session.commit()
    database = schema_current = False
    try:
        database = db.ping()
        schema_current = is_at_head(db.engine)
    except Exception:  # the panel reports a broken database; it must not become a 500 itself
        log.warning("health panel: database check failed", exc_info=True)
    owners, pending = request.app.state.acd.health()
    return {"database": database, "schema_current": schema_current, "owners": owners, "pending": pending}


@router.post("/institutions")
def create_institution(
    console: Annotated[Console, allowed("tenant.manage")],
    slug: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    admin_username: Annotated[str, Form(max_length=64)] = "",
    admin_password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    form = {"slug": slug, "name": name, "admin_username": admin_username}
    payload: dict[str, object] = {"slug": slug, "name": name}
    if admin_username:
        payload["initial_admin"] = {"username": admin_username, "password": admin_password}
    try:
        tenancy.create_tenant(console.session, actor=console.principal, data=TenantCreate.model_validate(payload))
    except ValidationError as exc:
        return _institutions(console, errors=field_errors(exc), form=form)
    except InvalidInput as exc:
        console.session.rollback()
        return _institutions(console, errors=exc.errors, form=form)
    except Conflict:
        console.session.rollback()
        return _institutions(console, errors=[FieldError("slug", "an institution with this slug exists")], form=form)
    return see_other("/console/institutions", notice="created")


@router.post("/institutions/{tenant_id}/status")
def change_status(
    tenant_id: str,
    console: Annotated[Console, allowed("tenant.manage")],
    status: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        data = TenantUpdate.model_validate({"status": status})
    except ValidationError as exc:
        return _institutions(console, errors=field_errors(exc))
    tenancy.update_tenant(console.session, actor=console.principal, tenant_id=object_id(tenant_id), data=data)
    return see_other("/console/institutions", notice="saved")
