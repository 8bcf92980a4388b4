"""Trigger API endpoints: order a call (signed API clients only, Idempotency-Key required) and read its state."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request, Response, status

from callvault.api import (
    PROBLEM,
    Problem,
    RequestContext,
    Requires,
    RequiresOneCommit,
    domain_router,
    store_idempotent_response,
)
from callvault.core.errors import DomainError
from callvault.trigger import service
from callvault.trigger.admission import AdmittedRoute
from callvault.trigger.schemas import CallRequestRead, TriggerCreate

router = domain_router("/calls", "calls")

Trigger = Annotated[RequestContext, Depends(Requires(service.TRIGGER))]
# Ordering a call is the hot path of the API: nonce, Idempotency-Key, the request and its stored answer are one
# transaction (one durable commit per call ordered).
TriggerOneCommit = Annotated[RequestContext, Depends(RequiresOneCommit(service.TRIGGER))]


class IdempotencyKeyRequired(DomainError):
    status = 428
    code = "idempotency-key-required"
    title = "Idempotency-Key header required"


_ORDER_RESPONSES: dict[int | str, dict[str, Any]] = {
    428: {"model": Problem, "content": {PROBLEM: {}}, "description": "Idempotency-Key header missing"},
    503: {
        "model": Problem,
        "content": {PROBLEM: {}},
        "description": "Too many orders in progress: nothing was stored; send it again after Retry-After seconds "
        "with the same Idempotency-Key",
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    },
}


def trigger_call(data: TriggerCreate, ctx: TriggerOneCommit, request: Request) -> Response:
    if "idempotency-key" not in request.headers:
        raise IdempotencyKeyRequired("send an Idempotency-Key header: a retry with the same key gets the first answer")
    answer: list[Response] = []

    def keep_answer(read: CallRequestRead) -> None:
        # Serialised here, before the commit, so the stored answer is byte for byte the one sent.
        response = Response(read.model_dump_json().encode(), status.HTTP_202_ACCEPTED, media_type="application/json")
        store_idempotent_response(request, response)
        answer.append(response)

    service.trigger_call(ctx.session, actor=ctx.principal, data=data, before_commit=keep_answer)
    return answer[0]


# Registered here rather than by decorator: the order route alone runs behind the process's in-flight limit.
router.add_api_route(
    "/trigger",
    trigger_call,
    methods=["POST"],
    response_model=CallRequestRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_ORDER_RESPONSES,
    summary="Order one call now; its result is POSTed to callback_url as a signed webhook",
    route_class_override=AdmittedRoute,
)


@router.get("/{request_id}", response_model=CallRequestRead, summary="Status and result of an ordered call")
def get_call(request_id: uuid.UUID, ctx: Trigger) -> CallRequestRead:
    return service.get_request(ctx.session, actor=ctx.principal, request_id=request_id)
