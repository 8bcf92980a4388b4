"""IVR flow endpoints: flows, drafts (JSON or YAML), versions, publish and rollback."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router, raw_body
from callvault.core.errors import DomainError
from callvault.core.schemas import Page
from callvault.ivr import service
from callvault.ivr.flow import parse_document
from callvault.ivr.schemas import FlowCreate, FlowRead, LookupKeyCreated, LookupKeyRead, VersionRead, VersionSummary

router = domain_router("/ivr", "IVR flows")

Reader = Annotated[RequestContext, Depends(Requires(service.READ))]
Manager = Annotated[RequestContext, Depends(Requires(service.MANAGE))]
# The response shows the new signing key once: it is never kept as an idempotent replay.
SecretMaker = Annotated[RequestContext, Depends(Requires(service.MANAGE, store_responses=False))]
Body = Annotated[bytes, Depends(raw_body)]

DOCUMENT_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml")
_DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The flow document (see docs/ivr.md), as JSON or YAML",
        "content": {
            "application/json": {"schema": {"type": "object", "required": ["start", "nodes"]}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported-media-type"
    title = "Send the flow document as application/json or application/yaml"


@router.get("/flows", response_model=Page[FlowRead], summary="List IVR flows")
def list_flows(ctx: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[FlowRead]:
    return service.list_flows(ctx.session, limit=limit, cursor=cursor)


@router.post("/flows", response_model=FlowRead, status_code=status.HTTP_201_CREATED, summary="Create an IVR flow")
def create_flow(data: FlowCreate, ctx: Manager) -> FlowRead:
    return service.create_flow(ctx.session, actor=ctx.principal, data=data)


@router.get("/flows/{flow_id}", response_model=FlowRead, summary="Get an IVR flow")
def get_flow(flow_id: uuid.UUID, ctx: Reader) -> FlowRead:
    return service.flow_read(ctx.session, service.get_flow(ctx.session, flow_id=flow_id))


@router.put(
    "/flows/{flow_id}/draft",
    response_model=VersionRead,
    summary="Create or replace the flow's draft",
    openapi_extra=_DOCUMENT_BODY,
)
def save_draft(flow_id: uuid.UUID, request: Request, body: Body, ctx: Manager) -> VersionRead:
    service.get_flow(ctx.session, flow_id=flow_id)  # another institution's flow is a 404 before any parsing
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in DOCUMENT_TYPES:
        raise UnsupportedMediaType()
    document = parse_document(body, content_type=content_type)
    return service.save_draft(ctx.session, actor=ctx.principal, flow_id=flow_id, document=document)


@router.post("/flows/{flow_id}/publish", response_model=VersionRead, summary="Validate and publish the draft")
def publish(flow_id: uuid.UUID, ctx: Manager) -> VersionRead:
    return service.publish(ctx.session, actor=ctx.principal, flow_id=flow_id)


@router.get("/flows/{flow_id}/versions", response_model=Page[VersionSummary], summary="List a flow's versions")
def list_versions(flow_id: uuid.UUID, ctx: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[VersionSummary]:
    return service.list_versions(ctx.session, flow_id=flow_id, limit=limit, cursor=cursor)


@router.get("/flows/{flow_id}/versions/{version_id}", response_model=VersionRead, summary="Get one version")
def get_version(flow_id: uuid.UUID, version_id: uuid.UUID, ctx: Reader) -> VersionRead:
    return service.get_version(ctx.session, flow_id=flow_id, version_id=version_id)


@router.post(
    "/flows/{flow_id}/versions/{version_id}/rollback",
    response_model=VersionRead,
    status_code=status.HTTP_201_CREATED,
    summary="Publish a new version with an earlier version's document",
)
def rollback(flow_id: uuid.UUID, version_id: uuid.UUID, ctx: Manager) -> VersionRead:
    return service.rollback(ctx.session, actor=ctx.principal, flow_id=flow_id, version_id=version_id)


@router.get("/lookup-key", response_model=LookupKeyRead, summary="The institution's look-up signing key (no secret)")
def get_lookup_key(ctx: Reader) -> LookupKeyRead:
    return service.lookup_key(ctx.session)


@router.post(
    "/lookup-key",
    response_model=LookupKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Make a new look-up signing key; the secret is shown this once",
)
def rotate_lookup_key(ctx: SecretMaker) -> LookupKeyCreated:
    return service.rotate_lookup_key(ctx.session, actor=ctx.principal)
