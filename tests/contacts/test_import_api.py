"""The import API: multipart upload into a list, the job's status, the error report download, idempotency,
signed API clients, and the do-not-call endpoints."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.contacts.db_helpers import actor_for, jobs, stored_contacts
from tests.fixtures import World

from callvault.contacts import import_service
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.dnc.policy import Purpose
from callvault.identity import api_clients
from callvault.identity.schemas import ApiClientCreate
from callvault.middleware import PlatformMiddleware
from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy

CSV = "姓名,手机\n张三,13800138000\n李四,119\n王五,13800138000\n赵六,139-0013-9000\n".encode("gb18030")


def _list(db: Database, slug: str, name: str, purpose: Purpose | None = None) -> uuid.UUID:
    actor = actor_for(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        list_id, _ = import_service.ensure_list(session, actor=actor, name=name, purpose=purpose)
        return list_id


def multipart(file_name: str, data: bytes, **fields: str) -> tuple[bytes, dict[str, str]]:
    """A multipart body with a fixed boundary: a retry sends exactly the same bytes."""
    boundary = "callvault-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
    parts.append(head.encode() + b"Content-Type: text/csv\r\n\r\n" + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


def _wait(session: Any, import_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        body: dict[str, Any] = session.get(f"/api/v1/imports/{import_id}").json()
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError("import did not finish")


def test_upload_runs_in_the_background_and_reports_errors(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    list_id = _list(db, inst.slug, "上传", Purpose.CARE)
    body, headers = multipart("名单.csv", CSV, purpose="care")
    url = f"/api/v1/contact-lists/{list_id}/imports"
    r = s.post(url, content=body, headers={**headers, "Idempotency-Key": "upload-1"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["file_name"] == "名单.csv" and job["format"] == "csv" and job["purpose"] == "care"
    done = _wait(s, job["id"])
    assert {k: done[k] for k in ("status", "total", "accepted", "rejected", "duplicates")} == {
        "status": "finished",
        "total": 4,
        "accepted": 2,
        "rejected": 1,
        "duplicates": 1,
    }
    assert [c.phones for c in stored_contacts(db, inst.id, "上传")] == [("+8613800138000",), ("+8613900139000",)]
    # A retry with the same key replays the first answer instead of starting a second job.
    again = s.post(url, content=body, headers={**headers, "Idempotency-Key": "upload-1"})
    assert again.status_code == 202 and again.json()["id"] == job["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    errors = s.get(f"/api/v1/imports/{job['id']}/errors")
    assert errors.status_code == 200 and errors.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert [(r[0], r[2]) for r in rows[1:]] == [("3", "phone.emergency"), ("4", "row.duplicate")]
    assert "13800138000" not in errors.content.decode("utf-8-sig")
    with db.scoped() as session:
        set_tenant(session, inst.id)
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == job["id"])).all()
    assert {"contact.import.start", "contact.import", "contact.import.report.export"} <= set(actions)


def test_bad_uploads_are_clear_problems(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    list_id = _list(db, inst.slug, "坏")
    url = f"/api/v1/contact-lists/{list_id}/imports"
    r = s.post(url, content=b"not multipart", headers={"content-type": "text/csv"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = s.post(url, files={"other": ("a.csv", b"x", "text/csv")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = s.post(url, files={"file": ("a.csv", CSV, "text/csv")}, data={"mapping": "{not json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mapping"
    r = s.post(url, files={"file": ("a.csv", CSV, "text/csv")}, data={"purpose": "spam"})
    assert r.status_code == 422
    # The list's purpose decides; an upload cannot screen a marketing list for another purpose.
    r = s.post(url, files={"file": ("a.csv", CSV, "text/csv")}, data={"purpose": "care"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "purpose"
    r = s.post(url, files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")})
    assert r.status_code == 202
    failed = _wait(s, r.json()["id"])
    assert failed["status"] == "failed" and "phone column" in failed["error"]
    assert s.post(f"/api/v1/contact-lists/{uuid.uuid4()}/imports", files={"file": ("a.csv", CSV)}).status_code == 404
    # Without a live session nothing is read: 401 at once.
    s.client.cookies.clear()
    r = s.client.post(url, content=b"x" * 4096, headers={"content-type": "text/csv"})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_uploads_above_the_body_limit_stream_to_disk(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    list_id = _list(db, inst.slug, "大", Purpose.CARE)
    # Wide rows rather than many: the point is the body size, not the import's speed on a loaded machine.
    rows = "".join(f"客户{i}{'甲' * 30},{13700000000 + i}\n" for i in range(10_000))
    data = ("姓名,手机\n" + rows).encode()
    assert len(data) > 1024 * 1024  # above the JSON body limit
    r = s.post(f"/api/v1/contact-lists/{list_id}/imports", files={"file": ("big.csv", data, "text/csv")})
    assert r.status_code == 202, r.text
    assert _wait(s, r.json()["id"])["accepted"] == 10_000
    # Other routes keep the small limit.
    assert s.post("/api/v1/dnc", content=b"{" + b" " * (2 * 1024 * 1024) + b"}").status_code == 413


def test_signed_api_client_uploads(world: World, db: Database, client: TestClient) -> None:
    inst = world.institution(roles=())
    list_id = _list(db, inst.slug, "API")
    actor = actor_for(db, inst.slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        created = api_clients.create_client(
            session, actor=actor, data=ApiClientCreate(name="crm", permissions=["contact.import"])
        )
    body, content_type = multipart("l.csv", CSV)
    path = f"/api/v1/contact-lists/{list_id}/imports"
    headers = api_clients.signed_headers(
        key_id=created.key_id, secret=created.secret, method="POST", path=path, body=body
    )
    headers |= content_type
    r = client.post(path, content=body, headers=headers)
    assert r.status_code == 202, r.text
    tampered = api_clients.signed_headers(
        key_id=created.key_id, secret=created.secret, method="POST", path=path, body=body
    )
    tampered |= content_type
    r = client.post(path, content=body.replace(b"13800138000", b"13800138001"), headers=tampered)
    assert r.status_code == 401
    assert hashlib.sha256(body).hexdigest()  # the signature covers the streamed body's digest


def test_dnc_endpoints(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    r = s.post("/api/v1/dnc", json={"phone": "138 0013 8000", "reason": "refused on call", "source": "call"})
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["phone_masked"] == "138****8000" and entry["scope"] == "institution"
    assert "13800138000" not in r.text
    assert s.post("/api/v1/dnc", json={"phone": "119"}).status_code == 422
    assert s.post("/api/v1/dnc", json={"phone": "13800138000", "scope": "global"}).status_code == 403
    listed = s.get("/api/v1/dnc", params={"phone": "+8613800138000"}).json()["items"]
    assert [e["id"] for e in listed] == [entry["id"]]
    assert s.get("/api/v1/dnc", params={"phone": "13800138001"}).json()["items"] == []
    consent = s.post(
        "/api/v1/consents",
        json={
            "phone": "13800138000",
            "granted_at": "2026-11-01T10:00:00+08:00",
            "channel": "recorded_call",
            "evidence_ref": "call-42",
        },
    )
    assert consent.status_code == 201, consent.text
    withdrawn = s.post(f"/api/v1/consents/{consent.json()['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"] is not None
    assert s.delete(f"/api/v1/dnc/{entry['id']}").status_code == 204
    assert s.delete(f"/api/v1/dnc/{entry['id']}").status_code == 404
    op = login(world.operator_user())
    # The global list binds every test of the run: a number no other test uses.
    r = op.post("/api/v1/dnc", json={"phone": "13312340002", "scope": "global", "all_purposes": True})
    assert r.status_code == 201, r.text
    found = op.get("/api/v1/dnc", params={"phone": "133-1234-0002"}).json()["items"]
    assert [e["id"] for e in found] == [r.json()["id"]] and found[0]["scope"] == "global"
    assert r.json()["id"] not in s.get("/api/v1/dnc?limit=200").text


def test_upload_routes_have_their_own_body_limit() -> None:
    """The middleware gives upload paths `max_upload_bytes` and every other path the JSON body limit."""

    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    inner = Starlette(
        routes=[
            Route("/api/v1/contact-lists/{x}/imports", echo, methods=["POST"]),
            Route("/other", echo, methods=["POST"]),
        ]
    )
    app = PlatformMiddleware(
        inner,
        max_body_bytes=1024,
        hsts=False,
        upload_paths=re.compile(r"/api/v1/contact-lists/[^/]+/imports"),
        max_upload_bytes=8192,
    )
    with TestClient(app) as c:
        assert c.post("/api/v1/contact-lists/l/imports", content=b"x" * 8000).text == "8000"
        assert c.post("/api/v1/contact-lists/l/imports", content=b"x" * 9000).status_code == 413
        assert c.post("/other", content=b"x" * 2000).status_code == 413

        def chunks() -> Any:  # no Content-Length: the streamed count is checked
            for _ in range(10):
                yield b"x" * 1000

        assert c.post("/api/v1/contact-lists/l/imports", content=chunks()).status_code == 413


def test_an_upload_left_unfinished_resumes_when_the_server_starts(
    world: World, db: Database, app: Any, settings: Any
) -> None:
    inst = world.institution(roles=())
    actor = actor_for(db, inst.slug)
    list_id = _list(db, inst.slug, "重启", Purpose.CARE)
    upload = import_service.reports_dir(settings.data_dir, inst.id) / f"{uuid.uuid4().hex}.csv"
    upload.write_bytes(CSV)
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        started = import_service.start_import(
            session,
            actor=actor,
            list_id=list_id,
            path=upload,
            file_name="名单.csv",
            fmt="auto",
            mapping=None,
            report_path=None,
            data_dir=settings.data_dir,
            keep_source=True,
        )
    # The process that took the upload died before running it; a new server start picks it up.
    with TestClient(app, base_url="https://testserver"):
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            [job] = [j for j in jobs(db, inst.id) if j.id == started.job_id]
            if job.status == "finished":
                break
            time.sleep(0.05)
    assert (job.status, job.accepted, job.rejected, job.duplicates) == ("finished", 2, 1, 1)
    assert not upload.exists()  # the institution's file is not kept after the import


def test_a_list_is_created_with_its_purpose(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    r = s.post("/api/v1/contact-lists", json={"name": "回访", "purpose": "return_visit"})
    assert r.status_code == 201, r.text
    assert r.json()["purpose"] == "return_visit"
    r = s.post("/api/v1/contact-lists", json={"name": "默认"})
    assert r.status_code == 201 and r.json()["purpose"] == "marketing"
    assert s.post("/api/v1/contact-lists", json={"name": "x", "purpose": "spam"}).status_code == 422
    assert s.post("/api/v1/contact-lists", json={"name": "回访"}).status_code == 409
    listed = {item["name"]: item["purpose"] for item in s.get("/api/v1/contact-lists").json()["items"]}
    assert listed == {"回访": "return_visit", "默认": "marketing"}
    visits = next(item["id"] for item in s.get("/api/v1/contact-lists").json()["items"] if item["name"] == "回访")
    body, headers = multipart("名单.csv", CSV)
    r = s.post(f"/api/v1/contact-lists/{visits}/imports", content=body, headers=headers)
    assert r.status_code == 202 and r.json()["purpose"] == "return_visit"
    _wait(s, r.json()["id"])
