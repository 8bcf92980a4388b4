"""Console pages of an organisation's own administration: its operators (users), their roles, its API clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from fastapi.responses import Response
from pydantic import ValidationError

from callvault.core.errors import DomainError, FieldError, InvalidInput, PermissionDenied
from callvault.identity import api_clients
from callvault.identity import service as identity
from callvault.identity.permissions import CATALOGUE, permissions_for
from callvault.identity.schemas import ApiClientCreate, RoleCreate, RoleRead, UserCreate, UserUpdate
from callvault.web.console import Console, allowed, console_router, object_id, see_other
from callvault.web.forms import field_errors

router = console_router()
PAGE = 200


def _roles(console: Console) -> list[RoleRead]:
    # Assigning roles needs the role names even to an admin holding only user.manage.
    return identity.list_roles(console.session, limit=PAGE, cursor=None).items


@router.get("/users")
def users_page(console: Annotated[Console, allowed("user.read")], cursor: str | None = None) -> Response:
    return _users(console, cursor=cursor)


def _users(
    console: Console,
    *,
    cursor: str | None = None,
    errors: list[FieldError] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    page = identity.list_users(console.session, limit=50, cursor=cursor)
    return console.render(
        "users.html",
        status=422 if errors else 200,
        users=page.items,
        next_cursor=page.next_cursor,
        roles=_roles(console),
        grantable=_grantable(console),
        errors=errors or [],
        form=form or {},
    )


def _grantable(console: Console) -> set[str]:
    """Roles this user may hand out (the same rule the action enforces)."""
    actor = console.principal
    return {
        str(r.id) for r in _roles(console) if identity.may_grant(actor, permissions=r.permissions, builtin=r.builtin)
    }


ESCALATION = FieldError("role_ids", "a chosen role holds permissions you do not have")


@router.post("/users")
def create_user(
    console: Annotated[Console, allowed("user.manage")],
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=120)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    role_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    form = {"username": username, "display_name": display_name}
    try:
        data = UserCreate(username=username, display_name=display_name, password=password, role_ids=role_ids or [])
        created = identity.create_user(console.session, actor=console.principal, data=data)
    except ValidationError as exc:
        return _users(console, errors=field_errors(exc), form=form)
    except InvalidInput as exc:
        return _users(console, errors=exc.errors, form=form)
    except PermissionDenied:
        console.session.rollback()
        return _users(console, errors=[ESCALATION], form=form)
    except DomainError as exc:
        if exc.status != 409:
            raise
        return _users(console, errors=[FieldError("username", "a user with this username exists")], form=form)
    return see_other(f"/console/users/{created.id}", notice="created")


@router.get("/users/{user_id}")
def user_page(user_id: str, console: Annotated[Console, allowed("user.read")]) -> Response:
    user = identity.user_read(identity.get_user(console.session, user_id=object_id(user_id)))
    held = {r.id for r in user.roles}
    return console.render(
        "user.html", user=user, roles=_roles(console), grantable=_grantable(console), held=held, errors=[]
    )


@router.post("/users/{user_id}")
def update_user(
    user_id: str,
    console: Annotated[Console, allowed("user.manage")],
    action: Annotated[str, Form(max_length=16)] = "",
    role_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """One form per change: `roles` replaces the user's roles, `disable` / `enable` changes only the status."""
    uid = object_id(user_id)
    try:
        if action == "roles":
            data = UserUpdate.model_validate({"role_ids": role_ids or []})
        elif action in ("disable", "enable"):
            data = UserUpdate(status="disabled" if action == "disable" else "active")
        else:
            raise InvalidInput.one("action", "one of roles, disable, enable")
        identity.update_user(console.session, actor=console.principal, user_id=uid, data=data)
    except (ValidationError, InvalidInput, PermissionDenied) as exc:
        console.session.rollback()
        user = identity.user_read(identity.get_user(console.session, user_id=uid))
        if isinstance(exc, ValidationError):
            errors = field_errors(exc)
        else:
            errors = exc.errors if isinstance(exc, InvalidInput) else [ESCALATION]
        return console.render(
            "user.html",
            status=422,
            user=user,
            roles=_roles(console),
            grantable=_grantable(console),
            held={r.id for r in user.roles},
            errors=errors,
        )
    return see_other(f"/console/users/{uid}", notice="disabled" if action == "disable" else "saved")


# --- API clients ------------------------------------------------------------------------------------------------


@router.get("/api-clients")
def clients_page(console: Annotated[Console, allowed("apiclient.read")]) -> Response:
    return _clients(console)


def _clients(console: Console, *, created: object = None, errors: list[FieldError] | None = None) -> Response:
    page = api_clients.list_clients(console.session, limit=PAGE, cursor=None)
    return console.render(
        "api_clients.html",
        status=422 if errors else 200,
        clients=page.items,
        created=created,
        errors=errors or [],
        permissions=sorted(p for p in console.principal.permissions),
    )


@router.post("/api-clients")
def create_client(
    console: Annotated[Console, allowed("apiclient.manage")],
    name: Annotated[str, Form(max_length=200)] = "",
    permissions: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        data = ApiClientCreate(name=name, permissions=permissions or [])
        created = api_clients.create_client(console.session, actor=console.principal, data=data)
    except ValidationError as exc:
        return _clients(console, errors=field_errors(exc))
    except InvalidInput as exc:
        return _clients(console, errors=exc.errors)
    # The secret is shown on this response only: never in a redirect URL, never stored in a cache.
    return _clients(console, created=created)


@router.post("/api-clients/{client_id}/revoke")
def revoke_client(client_id: str, console: Annotated[Console, allowed("apiclient.manage")]) -> Response:
    api_clients.revoke_client(console.session, actor=console.principal, client_id=object_id(client_id))
    return see_other("/console/api-clients", notice="revoked")


# --- roles ------------------------------------------------------------------------------------------------------


@router.get("/roles")
def roles_page(console: Annotated[Console, allowed("role.read")]) -> Response:
    return _roles_page(console)


def _roles_page(
    console: Console, *, errors: list[FieldError] | None = None, form: dict[str, str] | None = None
) -> Response:
    kind = "operator" if console.principal.is_operator else "institution"
    offered = sorted(console.principal.permissions & permissions_for(kind))
    return console.render(
        "roles.html",
        status=422 if errors else 200,
        roles=_roles(console),
        offered=[(name, CATALOGUE[name].description) for name in offered],
        errors=errors or [],
        form=form or {},
    )


@router.post("/roles")
def create_role(
    console: Annotated[Console, allowed("role.manage")],
    name: Annotated[str, Form(max_length=60)] = "",
    description: Annotated[str, Form(max_length=300)] = "",
    permissions: Annotated[list[str] | None, Form()] = None,
    requires_mfa: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    form = {"name": name, "description": description}
    try:
        data = RoleCreate(
            name=name, description=description, permissions=permissions or [], requires_mfa=bool(requires_mfa)
        )
        identity.create_role(console.session, actor=console.principal, data=data)
    except ValidationError as exc:
        return _roles_page(console, errors=field_errors(exc), form=form)
    except InvalidInput as exc:
        return _roles_page(console, errors=exc.errors, form=form)
    except PermissionDenied:
        console.session.rollback()
        return _roles_page(console, errors=[FieldError("permissions", "you can only grant what you hold")], form=form)
    except DomainError as exc:
        if exc.status != 409:
            raise
        return _roles_page(console, errors=[FieldError("name", "a role with this name exists")], form=form)
    return see_other("/console/roles", notice="created")


@router.post("/roles/{role_id}/delete")
def delete_role(role_id: str, console: Annotated[Console, allowed("role.manage")]) -> Response:
    try:
        identity.delete_role(console.session, actor=console.principal, role_id=object_id(role_id))
    except DomainError as exc:
        if exc.status != 409:
            raise
        console.session.rollback()
        return _roles_page(console, errors=[FieldError("role", exc.detail)])
    return see_other("/console/roles", notice="removed")
