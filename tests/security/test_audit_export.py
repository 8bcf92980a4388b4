"""Audit export over the API and the CLI: what an institution receives verifies with the documented procedure."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.identity import api_clients
from callvault.identity.api_clients import signed_headers
from callvault.identity.schemas import ApiClientCreate
from callvault.security import audit
from callvault.security.principal import system_principal
from callvault.tenancy import service as tenancy
from tests.fixtures import World

from .test_audit_verification_doc import blocks

pytestmark = pytest.mark.sec("SEC-20")


def append(db: Database, slug: str, count: int, action: str = "test.event") -> None:
    with db.scoped() as s:
        t = tenancy.bind(s, slug=slug)
        actor = system_principal(tenant_id=t.id, tenant_slug=t.slug, tenant_kind=t.kind, name="test")
        for i in range(count):
            audit.record(s, actor=actor, action=action, object_type="thing", object_id=f"t-{i}")
        s.commit()


def doc_verify(folder: Path, records: bytes, checkpoints: bytes, pem: bytes) -> str:
    """Run the verifier of docs/audit-verification.md on the three files; its verdict line."""
    (folder / "audit.jsonl").write_bytes(records)
    (folder / "checkpoints.jsonl").write_bytes(checkpoints)
    (folder / "audit-signing-public.pem").write_bytes(pem)
    (folder / "verify_export.py").write_text(blocks("python")[0], encoding="utf-8")
    cmd = [sys.executable, "verify_export.py", "audit.jsonl", "checkpoints.jsonl", "audit-signing-public.pem"]
    done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def api_export(session: Any, query: str = "") -> tuple[bytes, bytes, bytes, dict[str, str]]:
    r = session.get(f"/api/v1/audit?{query}")
    assert r.status_code == 200, r.text
    last = r.headers["CallVault-Audit-Last-Seq"]
    sep = "&" if query else ""
    cps = session.get(f"/api/v1/audit/checkpoints?{query}{sep}to_seq={last}")
    assert cps.status_code == 200, cps.text
    pem = session.get("/api/v1/audit/public-key")
    assert pem.status_code == 200 and pem.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    return r.content, cps.content, pem.content, dict(r.headers)


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_api_export_of_the_institution_verifies_independently(
    world: World, login: Any, db: Database, tmp_path: Path
) -> None:
    inst = world.institution(roles=("admin", "auditor"))
    other = world.institution(roles=("admin",))
    admin = login(inst.accounts["admin"])
    for i in range(3):
        assert admin.post("/api/v1/users", json={"username": f"u-{i}", "password": "Valid-password-123"}).status_code
    assert admin.get("/api/v1/audit").status_code == 403  # separation of duties: the admin does not read it
    auditor = login(inst.accounts["auditor"])

    records, cps, pem, headers = api_export(auditor)
    assert headers["content-type"].startswith("application/jsonl")
    rows = lines(records)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["tenant_id"] for r in rows} == {str(inst.id)}
    assert rows[-1]["action"] == "audit.export"  # the read is itself in the trail, with its filters only
    assert rows[-1]["details"]["channel"] == "api" and rows[-1]["details"]["since"] is None
    assert str(other.id) not in records.decode()
    assert doc_verify(tmp_path, records, cps, pem).startswith(f"OK: {len(rows)} records")

    ndjson = auditor.get("/api/v1/audit?after_seq=2", headers={"Accept": "application/x-ndjson"})
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    assert lines(ndjson.content)[0]["seq"] == 3

    tampered = records.replace(b'"user.create"', b'"user.delete"', 1)
    assert doc_verify(tmp_path, tampered, cps, pem).startswith("FAIL at seq")


def test_operator_sees_only_the_operator_chain(world: World, login: Any) -> None:
    inst = world.institution(roles=("admin",))
    op = login(world.user(tenancy.OPERATOR_SLUG, role="auditor"))
    rows = lines(op.get("/api/v1/audit").content)
    with world.db.scoped() as s:
        op_id = tenancy.ensure_operator(s).id
    assert rows and {r["tenant_id"] for r in rows} == {str(op_id)}
    assert str(inst.id) not in {r["tenant_id"] for r in rows}


def test_signed_api_client_pulls_incrementally(world: World, client: TestClient, db: Database) -> None:
    inst = world.institution(roles=())
    with db.scoped() as s:
        t = tenancy.bind(s, slug=inst.slug)
        actor = system_principal(tenant_id=t.id, tenant_slug=t.slug, tenant_kind=t.kind)
        creds = api_clients.create_client(s, actor=actor, data=ApiClientCreate(name="siem", permissions=["audit.read"]))
    append(db, inst.slug, 5)

    def pull(query: str) -> list[dict[str, Any]]:
        headers = signed_headers(
            key_id=creds.key_id, secret=creds.secret, method="GET", path="/api/v1/audit", query=query
        )
        r = client.get(f"/api/v1/audit?{query}", headers=headers)
        assert r.status_code == 200, r.text
        return lines(r.content)

    first = pull("after_seq=0")
    held = first[-1]
    append(db, inst.slug, 2)
    more = pull(f"after_seq={held['seq']}")
    assert more[0]["seq"] == held["seq"] + 1 and more[0]["prev_hash"] == held["hash"]
    assert {r["actor"] for r in more if r["action"] == "audit.export"} == {f"api_client:{creds.id}"}


def test_since_export_starts_after_a_signed_checkpoint_and_verifies(
    world: World, login: Any, db: Database, tmp_path: Path
) -> None:
    inst = world.institution(roles=())
    append(db, inst.slug, 4)  # seq 1 is checkpointed (the first record always is)
    clock.travel(3600)
    append(db, inst.slug, 3)  # the first of these is checkpointed (time limit)
    clock.travel(3600)
    since = clock.now()
    append(db, inst.slug, 3, action="test.later")
    auditor = login(world.user(inst.slug, role="auditor"))

    query = "since=" + since.isoformat().replace("+00:00", "Z")
    records, cps, pem, headers = api_export(auditor, query)
    rows = lines(records)
    anchors = lines(cps)
    assert rows[0]["seq"] == anchors[0]["seq"] + 1 > 2  # partial: starts right after the anchor checkpoint
    assert int(headers["callvault-audit-first-seq"]) == rows[0]["seq"]
    assert doc_verify(tmp_path, records, cps, pem).startswith(f"OK: {rows[-1]['seq']} records")
    # Without its anchor a partial export cannot be trusted.
    assert "starts after no signed checkpoint" in doc_verify(tmp_path, records, b"".join(cps.splitlines(True)[1:]), pem)


@pytest.mark.parametrize(
    "query",
    ["since=2026-12-01T00:00:00", "since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "after_seq=-1"],
)
def test_bad_filters_are_clear_422s(world: World, login: Any, query: str) -> None:
    inst = world.institution(roles=("auditor",))
    r = login(inst.accounts["auditor"]).get(f"/api/v1/audit?{query}")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_export_writes_verifiable_files_with_a_manifest(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=("admin",))
    append(db, inst.slug, 5)
    out = tmp_path / "export"
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "callvault", "audit", "export", "--tenant", inst.slug, "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tenant_id"] == str(inst.id) and manifest["first_seq"] == 1
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == _sha256(out / name)
    verdict = doc_verify(
        tmp_path,
        (out / "audit.jsonl").read_bytes(),
        (out / "checkpoints.jsonl").read_bytes(),
        (out / "audit-signing-public.pem").read_bytes(),
    )
    assert verdict.startswith(f"OK: {manifest['last_seq']} records")
    with db.scoped() as s:
        set_tenant(s, inst.id)
        actions = [r.action for r in audit.stored_records(s)]
    assert actions[-1] == "audit.export"

    bad = subprocess.run(
        [*cmd[:-2], "--out", str(tmp_path / "x"), "--since", "yesterday"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_export_rows_come_in_bounded_batches(world: World, db: Database) -> None:
    from callvault.security import audit_export

    inst = world.institution(roles=())
    append(db, inst.slug, 7)
    with db.scoped() as s:
        set_tenant(s, inst.id)
        window = audit_export.plan_window(s)
    seqs = [r.seq for r in audit_export.stream_records(db, window, batch=3)]
    assert seqs == list(range(1, window.last_seq + 1))
