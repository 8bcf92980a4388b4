"""The institution's own audit trail over the API, in the export form of docs/audit-verification.md.

`GET /audit` streams audit.jsonl, `GET /audit/checkpoints` checkpoints.jsonl and `GET /audit/public-key` the PEM key,
for the caller's tenant only (an operator user gets the operator's chain). HMAC API clients use the same routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from callvault.api import RequestContext, Requires, domain_router, get_db
from callvault.security import audit, audit_export

router = domain_router("/audit", "audit trail")

Auditor = Annotated[RequestContext, Depends(Requires("audit.read"))]
JSONL = "application/jsonl"
NDJSON = "application/x-ndjson"
PEM = "application/x-pem-file"
_LINES: dict[int | str, dict[str, Any]] = {
    200: {"content": {JSONL: {"schema": {"type": "string"}}, NDJSON: {"schema": {"type": "string"}}}}
}

Since = Annotated[
    datetime | None,
    Query(
        description="records at or after this UTC time (the export then starts "
        "right after the signed checkpoint before it)"
    ),
]
Until = Annotated[datetime | None, Query(description="records before this UTC time")]
AfterSeq = Annotated[int | None, Query(ge=0, le=2**53, description="only records after this seq (incremental pulls)")]
ToSeq = Annotated[int | None, Query(ge=0, le=2**53, description="only records up to this seq")]


def _media_type(request: Request) -> str:
    return NDJSON if NDJSON in request.headers.get("accept", "") else JSONL


def _window_headers(window: audit_export.ExportWindow) -> dict[str, str]:
    return {
        "CallVault-Audit-First-Seq": str(window.first_seq),
        "CallVault-Audit-Last-Seq": str(window.last_seq),
        "Cache-Control": "no-store",
    }


@router.get(
    "",
    response_class=StreamingResponse,
    responses=_LINES,
    summary="Stream the audit records of the caller's tenant as JSON Lines (audit.jsonl)",
)
def export_records(
    request: Request,
    ctx: Auditor,
    since: Since = None,
    until: Until = None,
    after_seq: AfterSeq = None,
    to_seq: ToSeq = None,
) -> StreamingResponse:
    window = audit_export.begin_export(
        ctx.session, actor=ctx.principal, since=since, until=until, after_seq=after_seq, to_seq=to_seq
    )
    db = get_db(request)

    def lines() -> Iterator[bytes]:
        for record in audit_export.stream_records(db, window):
            yield audit_export.jsonl_line(record)

    return StreamingResponse(lines(), media_type=_media_type(request), headers=_window_headers(window))


@router.get(
    "/checkpoints",
    response_class=Response,
    responses=_LINES,
    summary="The signed checkpoints for the same window as JSON Lines (checkpoints.jsonl)",
)
def export_checkpoints(
    request: Request,
    ctx: Auditor,
    since: Since = None,
    until: Until = None,
    after_seq: AfterSeq = None,
    to_seq: ToSeq = None,
) -> Response:
    window = audit_export.plan_window(ctx.session, since=since, until=until, after_seq=after_seq, to_seq=to_seq)
    body = b"".join(audit_export.jsonl_line(cp) for cp in audit_export.checkpoints_in(ctx.session, window))
    return Response(body, media_type=_media_type(request), headers=_window_headers(window))


@router.get(
    "/public-key",
    response_class=Response,
    responses={200: {"content": {PEM: {"schema": {"type": "string"}}}}},
    summary="The Ed25519 public key that signs checkpoints (audit-signing-public.pem)",
)
def public_key(ctx: Auditor) -> Response:
    return Response(audit.signer().public_key_pem(), media_type=PEM)
