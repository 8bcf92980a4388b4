"""Console pages of IVR flows: the list, a flow's versions, its draft (YAML or JSON), publish and rollback.

A draft that does not validate is not published; the page lists every problem by node, as the API does."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import yaml
from fastapi import Form
from fastapi.responses import Response
from pydantic import ValidationError

from callvault.core.errors import Conflict, FieldError, InvalidInput
from callvault.ivr import service as ivr
from callvault.ivr.flow import parse_document
from callvault.ivr.schemas import FlowCreate
from callvault.web.console import Console, allowed, console_router, object_id, see_other
from callvault.web.forms import field_errors

router = console_router()


def _without_nulls(value: Any) -> Any:
    """The stored document spells out every unset option as null; the editor shows what the author wrote."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def as_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(_without_nulls(document), allow_unicode=True, sort_keys=False)


@router.get("/ivr")
def flows_page(console: Annotated[Console, allowed(ivr.READ)], cursor: str | None = None) -> Response:
    return _flows(console, cursor=cursor)


def _flows(console: Console, *, cursor: str | None = None, errors: list[FieldError] | None = None) -> Response:
    page = ivr.list_flows(console.session, limit=50, cursor=cursor)
    return console.render(
        "ivr_flows.html",
        status=422 if errors else 200,
        flows=page.items,
        next_cursor=page.next_cursor,
        errors=errors or [],
    )


@router.post("/ivr")
def create_flow(
    console: Annotated[Console, allowed(ivr.MANAGE)],
    name: Annotated[str, Form(max_length=80)] = "",
    entry_point: Annotated[str, Form(max_length=80)] = "",
    description: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        data = FlowCreate(name=name, entry_point=entry_point, description=description)
        created = ivr.create_flow(console.session, actor=console.principal, data=data)
    except ValidationError as exc:
        return _flows(console, errors=field_errors(exc))
    except Conflict:
        return _flows(console, errors=[FieldError("name", "a flow with this name or entry point exists")])
    return see_other(f"/console/ivr/{created.id}", notice="created")


def _flow(
    console: Console,
    flow_id: uuid.UUID,
    *,
    errors: list[FieldError] | None = None,
    draft_text: str | None = None,
    status: int = 200,
) -> Response:
    session = console.session
    flow = ivr.flow_read(session, ivr.get_flow(session, flow_id=flow_id))  # another institution's flow: 404
    versions = ivr.list_versions(session, flow_id=flow_id, limit=200, cursor=None).items
    if draft_text is None:
        # The editor starts from the draft, else from the published version, else from an empty document.
        source = next((v for v in versions if v.status == "draft"), None) or next(
            (v for v in versions if v.status == "published"), None
        )
        document = ivr.get_version(session, flow_id=flow_id, version_id=source.id).document if source else {}
        draft_text = as_yaml(document) if document else ""
    return console.render(
        "ivr_flow.html",
        status=status,
        flow=flow,
        versions=sorted(versions, key=lambda v: v.number, reverse=True),
        draft_text=draft_text,
        errors=errors or [],
    )


@router.get("/ivr/{flow_id}")
def flow_page(flow_id: str, console: Annotated[Console, allowed(ivr.READ)]) -> Response:
    return _flow(console, object_id(flow_id))


@router.post("/ivr/{flow_id}/draft")
def save_draft(
    flow_id: str,
    console: Annotated[Console, allowed(ivr.MANAGE)],
    document: Annotated[str, Form(max_length=256 * 1024)] = "",
) -> Response:
    fid = object_id(flow_id)
    ivr.get_flow(console.session, flow_id=fid)  # 404 before the document is judged
    text = document.strip()
    try:
        # YAML is a superset of JSON, but JSON's own parser gives the better error messages for JSON text.
        content_type = "application/json" if text.startswith("{") else "application/yaml"
        parsed = parse_document(text, content_type=content_type)
        ivr.save_draft(console.session, actor=console.principal, flow_id=fid, document=parsed)
    except InvalidInput as exc:
        console.session.rollback()
        return _flow(console, fid, errors=exc.errors, draft_text=document, status=422)
    return see_other(f"/console/ivr/{fid}", notice="draft-saved")


@router.post("/ivr/{flow_id}/publish")
def publish(flow_id: str, console: Annotated[Console, allowed(ivr.MANAGE)]) -> Response:
    fid = object_id(flow_id)
    try:
        ivr.publish(console.session, actor=console.principal, flow_id=fid)
    except InvalidInput as exc:
        console.session.rollback()
        return _flow(console, fid, errors=exc.errors, status=422)
    except Conflict:
        console.session.rollback()
        return _flow(console, fid, errors=[FieldError("draft", "the flow has no draft to publish")], status=409)
    return see_other(f"/console/ivr/{fid}", notice="published")


@router.post("/ivr/{flow_id}/versions/{version_id}/rollback")
def rollback(flow_id: str, version_id: str, console: Annotated[Console, allowed(ivr.MANAGE)]) -> Response:
    fid = object_id(flow_id)
    try:
        ivr.rollback(console.session, actor=console.principal, flow_id=fid, version_id=object_id(version_id))
    except InvalidInput as exc:
        console.session.rollback()
        return _flow(console, fid, errors=exc.errors, status=422)
    return see_other(f"/console/ivr/{fid}", notice="rolled-back")


@router.get("/ivr/{flow_id}/versions/{version_id}")
def version_page(flow_id: str, version_id: str, console: Annotated[Console, allowed(ivr.READ)]) -> Response:
    fid = object_id(flow_id)
    flow = ivr.flow_read(console.session, ivr.get_flow(console.session, flow_id=fid))
    version = ivr.get_version(console.session, flow_id=fid, version_id=object_id(version_id))
    text = as_yaml(version.document)
    return console.render("ivr_version.html", flow=flow, version=version, document_text=text)
