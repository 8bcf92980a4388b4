"""Contact endpoints: lists, masked contacts, audited reveal, look-up by phone through the blind index."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, status

from callvault.api import Cursor, Limit, RequestContext, Requires, domain_router
from callvault.contacts import service
from callvault.contacts.schemas import ContactListCreate, ContactListRead, ContactRead, RevealRequest
from callvault.core.schemas import Page

router = domain_router("", "contacts")

CanRead = Annotated[RequestContext, Depends(Requires("contact.read"))]
CanCreateList = Annotated[RequestContext, Depends(Requires("contact.import"))]
# Revealed values are never stored for idempotent replays (nor replayed without a new audit record).
CanReveal = Annotated[RequestContext, Depends(Requires("contact.reveal", store_responses=False))]


@router.get("/contact-lists", response_model=Page[ContactListRead], summary="List contact lists")
def list_contact_lists(ctx: CanRead, limit: Limit = 50, cursor: Cursor = None) -> Page[ContactListRead]:
    return service.list_lists(ctx.session, actor=ctx.principal, limit=limit, cursor=cursor)


@router.post(
    "/contact-lists",
    response_model=ContactListRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a contact list; its purpose decides which do-not-call entries its imports screen out",
)
def create_contact_list(data: ContactListCreate, ctx: CanCreateList) -> ContactListRead:
    return service.create_list(ctx.session, actor=ctx.principal, data=data)


@router.get(
    "/contacts",
    response_model=Page[ContactRead],
    summary="List contacts (masked); with `phone` or `id_number`, only exact matches (blind index)",
)
def find_contacts(
    ctx: CanRead,
    phone: Annotated[str | None, Query(min_length=3, max_length=40, description="any common notation")] = None,
    id_number: Annotated[str | None, Query(min_length=5, max_length=40, description="exact ID number")] = None,
    list_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ContactRead]:
    return service.find_contacts(
        ctx.session,
        actor=ctx.principal,
        phone=phone,
        id_number=id_number,
        list_id=list_id,
        limit=limit,
        cursor=cursor,
    )


@router.get("/contacts/{contact_id}", response_model=ContactRead, summary="Get a contact (sensitive fields masked)")
def get_contact(contact_id: uuid.UUID, ctx: CanRead) -> ContactRead:
    return service.get_contact(ctx.session, actor=ctx.principal, contact_id=contact_id)


@router.post(
    "/contacts/{contact_id}/reveal",
    response_model=ContactRead,
    summary="Show chosen fields unmasked (audited, with a reason)",
)
def reveal_contact(contact_id: uuid.UUID, ctx: CanReveal, data: RevealRequest | None = None) -> ContactRead:
    # The body is optional in the signature so an unknown id answers 404 before the body is judged.
    return service.reveal_contact(ctx.session, actor=ctx.principal, contact_id=contact_id, data=data)
