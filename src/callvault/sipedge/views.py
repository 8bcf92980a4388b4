"""SIP edge endpoints: institutions' trunks, DIDs and agent phones; the operator's DID inventory."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.core.schemas import Page
from callvault.sipedge import service
from callvault.sipedge.schemas import (
    DidAssign,
    DidEntryUpdate,
    DidRead,
    EndpointCreate,
    EndpointCredentials,
    EndpointRead,
    TrunkCreate,
    TrunkRead,
)

router = domain_router("/sip", "sip")

Reader = Annotated[RequestContext, Depends(Requires(service.READ))]
Manager = Annotated[RequestContext, Depends(Requires(service.MANAGE))]
# The phone password is in the response: never stored for idempotent replays.
CredentialMaker = Annotated[RequestContext, Depends(Requires(service.MANAGE, store_responses=False))]
NumberKeeper = Annotated[RequestContext, Depends(Requires(service.ASSIGN_DIDS))]


@router.get("/trunks", response_model=Page[TrunkRead], summary="The institution's SIP trunks")
def list_trunks(ctx: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[TrunkRead]:
    return service.list_trunks(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor)


@router.post("/trunks", response_model=TrunkRead, status_code=status.HTTP_201_CREATED, summary="Add a SIP trunk")
def create_trunk(data: TrunkCreate, ctx: Manager) -> TrunkRead:
    return service.create_trunk(ctx.session, actor=ctx.principal, data=data)


@router.get("/trunks/{trunk_id}", response_model=TrunkRead, summary="One SIP trunk")
def get_trunk(trunk_id: uuid.UUID, ctx: Reader) -> TrunkRead:
    return service.get_trunk(ctx.session, actor=ctx.principal, trunk_id=trunk_id)


@router.delete("/trunks/{trunk_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a SIP trunk")
def delete_trunk(trunk_id: uuid.UUID, ctx: Manager) -> Response:
    service.delete_trunk(ctx.session, actor=ctx.principal, trunk_id=trunk_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/dids", response_model=Page[DidRead], summary="The numbers (DIDs) assigned to the institution")
def list_dids(ctx: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[DidRead]:
    return service.list_dids(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor)


@router.get("/dids/{did_id}", response_model=DidRead, summary="One of the institution's DIDs")
def get_did(did_id: uuid.UUID, ctx: Reader) -> DidRead:
    return service.get_did(ctx.session, actor=ctx.principal, did_id=did_id)


@router.patch("/dids/{did_id}", response_model=DidRead, summary="Point a DID at an IVR flow or a queue")
def set_did_entry(did_id: uuid.UUID, data: DidEntryUpdate, ctx: Manager) -> DidRead:
    return service.set_did_entry(ctx.session, actor=ctx.principal, did_id=did_id, data=data)


@router.get("/did-inventory", response_model=Page[DidRead], summary="The operator's DIDs and their institutions")
def did_inventory(
    ctx: NumberKeeper,
    limit: Limit = 50,
    cursor: Cursor = None,
    institution_id: Annotated[uuid.UUID | None, Query(description="only this institution's DIDs")] = None,
) -> Page[DidRead]:
    return service.did_inventory(
        ctx.session, actor=ctx.principal, limit=limit, cursor=cursor, institution_id=institution_id
    )


@router.post(
    "/did-inventory",
    response_model=DidRead,
    status_code=status.HTTP_201_CREATED,
    summary="Assign a DID to an institution (a number belongs to one institution only)",
)
def assign_did(data: DidAssign, ctx: NumberKeeper) -> DidRead:
    return service.assign_did(ctx.session, actor=ctx.principal, data=data)


@router.delete(
    "/did-inventory/{did_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Release a DID: it stays in the inventory, unassigned, until it is assigned again",
)
def release_did(did_id: uuid.UUID, ctx: NumberKeeper) -> Response:
    service.release_did(ctx.session, actor=ctx.principal, did_id=did_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/endpoints", response_model=Page[EndpointRead], summary="Agents' SIP phone accounts")
def list_endpoints(ctx: Reader, limit: Limit = 50, cursor: Cursor = None) -> Page[EndpointRead]:
    return service.list_endpoints(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor)


@router.post(
    "/endpoints",
    response_model=EndpointCredentials,
    status_code=status.HTTP_201_CREATED,
    summary="Create an agent's SIP phone account (the password is shown once)",
)
def create_endpoint(data: EndpointCreate, ctx: CredentialMaker) -> EndpointCredentials:
    return service.create_endpoint(ctx.session, actor=ctx.principal, data=data)


@router.get("/endpoints/{endpoint_id}", response_model=EndpointRead, summary="One agent SIP phone account")
def get_endpoint(endpoint_id: uuid.UUID, ctx: Reader) -> EndpointRead:
    return service.get_endpoint(ctx.session, actor=ctx.principal, endpoint_id=endpoint_id)


@router.post(
    "/endpoints/{endpoint_id}/password",
    response_model=EndpointCredentials,
    summary="Give an agent phone account a new password (shown once)",
)
def reset_password(endpoint_id: uuid.UUID, ctx: CredentialMaker) -> EndpointCredentials:
    return service.reset_password(ctx.session, actor=ctx.principal, endpoint_id=endpoint_id)


@router.post(
    "/endpoints/{endpoint_id}/disable",
    response_model=EndpointRead,
    summary="Disable an agent phone account: it can no longer register (kept, can be enabled again)",
)
def disable_endpoint(endpoint_id: uuid.UUID, ctx: Manager) -> EndpointRead:
    return service.disable_endpoint(ctx.session, actor=ctx.principal, endpoint_id=endpoint_id)


@router.post(
    "/endpoints/{endpoint_id}/enable",
    response_model=EndpointRead,
    summary="Enable a disabled agent phone account: it registers again with its password",
)
def enable_endpoint(endpoint_id: uuid.UUID, ctx: Manager) -> EndpointRead:
    return service.enable_endpoint(ctx.session, actor=ctx.principal, endpoint_id=endpoint_id)


@router.delete("/endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a SIP account")
def delete_endpoint(endpoint_id: uuid.UUID, ctx: Manager) -> Response:
    service.delete_endpoint(ctx.session, actor=ctx.principal, endpoint_id=endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
