"""User and role endpoints, always within the caller's own tenant."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.core.schemas import Page
from callvault.identity import service
from callvault.identity.schemas import RoleCreate, RoleRead, RoleUpdate, UserCreate, UserRead, UserUpdate

router = domain_router("", "users and roles")

UserReader = Annotated[RequestContext, Depends(Requires("user.read"))]
UserManager = Annotated[RequestContext, Depends(Requires("user.manage"))]
RoleReader = Annotated[RequestContext, Depends(Requires("role.read"))]
RoleManager = Annotated[RequestContext, Depends(Requires("role.manage"))]


@router.get("/users", response_model=Page[UserRead], summary="List users")
def list_users(ctx: UserReader, limit: Limit = 50, cursor: Cursor = None) -> Page[UserRead]:
    return service.list_users(ctx.session, limit=limit, cursor=cursor)


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED, summary="Create a user")
def create_user(data: UserCreate, ctx: UserManager) -> UserRead:
    return service.create_user(ctx.session, actor=ctx.principal, data=data)


@router.get("/users/{user_id}", response_model=UserRead, summary="Get a user")
def get_user(user_id: uuid.UUID, ctx: UserReader) -> UserRead:
    return service.user_read(service.get_user(ctx.session, user_id=user_id))


@router.patch("/users/{user_id}", response_model=UserRead, summary="Change, disable or re-role a user")
def update_user(user_id: uuid.UUID, data: UserUpdate, ctx: UserManager) -> UserRead:
    return service.update_user(ctx.session, actor=ctx.principal, user_id=user_id, data=data)


@router.post("/users/{user_id}/reset-2fa", response_model=UserRead, summary="Remove a user's second factor")
def reset_2fa(user_id: uuid.UUID, ctx: UserManager) -> UserRead:
    return service.reset_totp(ctx.session, actor=ctx.principal, user_id=user_id)


@router.get("/roles", response_model=Page[RoleRead], summary="List roles")
def list_roles(ctx: RoleReader, limit: Limit = 50, cursor: Cursor = None) -> Page[RoleRead]:
    return service.list_roles(ctx.session, limit=limit, cursor=cursor)


@router.post("/roles", response_model=RoleRead, status_code=status.HTTP_201_CREATED, summary="Create a role")
def create_role(data: RoleCreate, ctx: RoleManager) -> RoleRead:
    return service.create_role(ctx.session, actor=ctx.principal, data=data)


@router.get("/roles/{role_id}", response_model=RoleRead, summary="Get a role")
def get_role(role_id: uuid.UUID, ctx: RoleReader) -> RoleRead:
    return RoleRead.model_validate(service.get_role(ctx.session, role_id=role_id))


@router.patch("/roles/{role_id}", response_model=RoleRead, summary="Change a role")
def update_role(role_id: uuid.UUID, data: RoleUpdate, ctx: RoleManager) -> RoleRead:
    return service.update_role(ctx.session, actor=ctx.principal, role_id=role_id, data=data)


@router.delete("/roles/{role_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an unused role")
def delete_role(role_id: uuid.UUID, ctx: RoleManager) -> Response:
    service.delete_role(ctx.session, actor=ctx.principal, role_id=role_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
