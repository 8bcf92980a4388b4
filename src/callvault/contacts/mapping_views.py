"""Saved mapping templates: `/api/v1/import-mappings` (permission `contact.import`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.contacts import mapping_service as service
from callvault.contacts.mapping_schemas import MappingTemplateCreate, MappingTemplateRead, MappingTemplateUpdate
from callvault.core.schemas import Page

router = domain_router("", "import mapping templates")

Keeper = Annotated[RequestContext, Depends(Requires(service.PERMISSION))]


@router.get("/import-mappings", response_model=Page[MappingTemplateRead], summary="List the saved mapping templates")
def list_mappings(ctx: Keeper, limit: Limit = 50, cursor: Cursor = None) -> Page[MappingTemplateRead]:
    return service.list_templates(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor)


@router.post(
    "/import-mappings",
    response_model=MappingTemplateRead,
    status_code=status.HTTP_201_CREATED,
    summary="Save a column mapping template under a name (409 if the name exists)",
)
def create_mapping(data: MappingTemplateCreate, ctx: Keeper) -> MappingTemplateRead:
    return service.create_template(ctx.session, actor=ctx.principal, data=data)


@router.get("/import-mappings/{mapping_id}", response_model=MappingTemplateRead, summary="Get a mapping template")
def get_mapping(mapping_id: uuid.UUID, ctx: Keeper) -> MappingTemplateRead:
    return service.get_template(ctx.session, actor=ctx.principal, mapping_id=mapping_id)


@router.patch(
    "/import-mappings/{mapping_id}",
    response_model=MappingTemplateRead,
    summary="Rename a mapping template or change its description or mapping",
)
def update_mapping(mapping_id: uuid.UUID, ctx: Keeper, data: MappingTemplateUpdate) -> MappingTemplateRead:
    return service.update_template(ctx.session, actor=ctx.principal, mapping_id=mapping_id, data=data)


@router.delete(
    "/import-mappings/{mapping_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a mapping template"
)
def delete_mapping(mapping_id: uuid.UUID, ctx: Keeper) -> Response:
    service.delete_template(ctx.session, actor=ctx.principal, mapping_id=mapping_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
