"""Saved mapping templates: the API (CRUD, audit), imports naming a template through the API, the CLI and the
drop directory, and a template that does not fit the file failing the import before any row is stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.contacts.db_helpers import contact_count, jobs, stored_contacts
from tests.contacts.test_dropbox import drop, poll, result_of
from tests.contacts.test_import_api import _list, _wait
from tests.fixtures import World

from callvault.contacts import dropbox
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.dnc.policy import Purpose
from callvault.security.audit_models import AuditEvent

# Headers no guess recognises: only a mapping can import this file.
CSV = "户名,联络号码,备用号码,网点\n张三,13800138000,,东区\n李四,119,,西区\n王五,,13900139000,南区\n"
TEMPLATE = {"name": "户名", "phones": ["联络号码", "备用号码"], "custom": {"branch": "网点"}}


def _actions(db: Database, tenant_id: Any) -> list[str]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_templates_are_kept_per_institution_and_audited(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin", "agent"))
    s = login(inst.accounts["admin"])
    r = s.post("/api/v1/import-mappings", json={"name": "核心系统导出", "mapping": TEMPLATE})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["mapping"] == {**TEMPLATE, "id_number": None, "card_number": None, "trim": True}
    assert s.post("/api/v1/import-mappings", json={"name": "核心系统导出", "mapping": TEMPLATE}).status_code == 409
    # The template is checked when saved: a typo would otherwise drop a field silently at every import.
    r = s.post("/api/v1/import-mappings", json={"name": "坏", "mapping": {"phones": ["手机"], "nmae": "姓名"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mapping"
    assert s.post("/api/v1/import-mappings", json={"name": "空", "mapping": {"phones": []}}).status_code == 422
    url = f"/api/v1/import-mappings/{created['id']}"
    assert [t["name"] for t in s.get("/api/v1/import-mappings").json()["items"]] == ["核心系统导出"]
    r = s.patch(url, json={"description": "每月导出", "mapping": {**TEMPLATE, "phones": ["联络号码"]}})
    assert r.status_code == 200 and r.json()["description"] == "每月导出"
    assert r.json()["mapping"]["phones"] == ["联络号码"] and r.json()["updated_at"] is not None
    assert s.get(url).json()["name"] == "核心系统导出"
    assert s.delete(url).status_code == 204
    assert s.get(url).status_code == 404
    actions = _actions(db, inst.id)
    assert [a for a in actions if a.startswith("import_mapping.")] == [
        "import_mapping.create",
        "import_mapping.update",
        "import_mapping.delete",
    ]
    # Another institution sees none of them and may reuse the name.
    other = login(world.institution().accounts["admin"])
    assert other.get("/api/v1/import-mappings").json()["items"] == []
    assert other.post("/api/v1/import-mappings", json={"name": "核心系统导出", "mapping": TEMPLATE}).status_code == 201
    # An agent does not import lists, so does not keep their templates.
    agent = login(inst.accounts["agent"])
    assert agent.get("/api/v1/import-mappings").status_code == 403


def test_an_upload_names_a_template(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    assert s.post("/api/v1/import-mappings", json={"name": "导出", "mapping": TEMPLATE}).status_code == 201
    list_id = _list(db, inst.slug, "模板", Purpose.CARE)
    url = f"/api/v1/contact-lists/{list_id}/imports"
    r = s.post(url, files={"file": ("a.csv", CSV.encode(), "text/csv")}, data={"mapping_template": "导出"})
    assert r.status_code == 202, r.text
    done = _wait(s, r.json()["id"])
    assert (done["status"], done["total"], done["accepted"], done["rejected"]) == ("finished", 3, 2, 1)
    stored = stored_contacts(db, inst.id, "模板")
    assert [(c.name, c.phones) for c in stored] == [("张三", ("+8613800138000",)), ("王五", ("+8613900139000",))]
    [job] = jobs(db, inst.id)
    assert job.mapping_template == "导出" and job.mapping["phones"] == ["联络号码", "备用号码"]
    # Unknown template, or a template and an inline mapping: refused at upload, no job.
    r = s.post(url, files={"file": ("b.csv", b"x", "text/csv")}, data={"mapping_template": "nope"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mapping_template"
    r = s.post(
        url,
        files={"file": ("b.csv", b"x", "text/csv")},
        data={"mapping_template": "导出", "mapping": json.dumps(TEMPLATE)},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mapping_template"
    assert len(jobs(db, inst.id)) == 1


def test_a_template_naming_a_column_the_file_lacks_fails_before_any_row(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    s.post("/api/v1/import-mappings", json={"name": "旧版", "mapping": {**TEMPLATE, "id_number": "证件号码"}})
    list_id = _list(db, inst.slug, "缺列", Purpose.CARE)
    r = s.post(
        f"/api/v1/contact-lists/{list_id}/imports",
        files={"file": ("a.csv", CSV.encode(), "text/csv")},
        data={"mapping_template": "旧版"},
    )
    failed = _wait(s, r.json()["id"])
    assert failed["status"] == "failed" and failed["total"] == 0
    assert "mapping template '旧版'" in failed["error"] and "'证件号码' is not in the file" in failed["error"]
    assert contact_count(db, inst.id, "缺列") == 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callvault", "contacts", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )


def test_cli_and_drop_directory_name_a_template(world: World, db: Database, login: Any, tmp_path: Path) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    s.post("/api/v1/import-mappings", json={"name": "导出", "mapping": TEMPLATE})
    path = tmp_path / "a.csv"
    path.write_text(CSV, encoding="utf-8")
    base = ("import", str(path), "--tenant", inst.slug, "--list", "命令", "--purpose", "care")
    proc = _cli(*base, "--mapping-template", "导出", "--json")
    assert proc.returncode == 0, proc.stderr
    assert {k: v for k, v in json.loads(proc.stdout).items() if k != "report"} == {
        "total": 3,
        "accepted": 2,
        "rejected": 1,
        "duplicates": 0,
    }
    proc = _cli(*base, "--mapping-template", "nope")
    assert proc.returncode == 1 and "no mapping template called 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _cli(*base, "--mapping-template", "导出", "--mapping", str(path))
    assert proc.returncode == 1 and "not both" in proc.stderr

    # The drop directory: a per-directory default in dropbox.json, overridden by a file's sidecar.
    root = dropbox.prepare(tmp_path, inst.slug)
    settings = {"list": "投递", "purpose": "care", "mapping_template": "导出"}
    (root / "incoming" / "dropbox.json").write_text(json.dumps(settings, ensure_ascii=False), "utf-8")
    drop(root, "a.csv", CSV.replace("东区", "中区"))  # not the file the command imported
    drop(root, "b.csv", CSV.replace("东区", "北区"), settings={**settings, "mapping_template": "别的"})
    drop(root, "c.csv", CSV + "赵六,13700137000,,东区\n", settings={**settings, "mapping": TEMPLATE})
    outcomes = {o.file_name: o for o in poll(db, tmp_path, now=time.time())}
    assert (outcomes["a.csv"].status, outcomes["a.csv"].counts["accepted"]) == ("imported", 2)
    assert outcomes["b.csv"].status == "failed" and "no mapping template called '别的'" in outcomes["b.csv"].error
    assert outcomes["c.csv"].status == "failed" and "not both" in result_of(root / "failed" / "c.csv")["error"]


def test_a_template_name_that_reads_like_a_phone_number_still_imports(world: World, db: Database, login: Any) -> None:
    # Template names are free text; the import's audit record must not carry one (it may hold a number-like run).
    inst = world.institution()
    s = login(inst.accounts["admin"])
    name = "批次0755-86013388"
    assert s.post("/api/v1/import-mappings", json={"name": name, "mapping": TEMPLATE}).status_code == 201
    list_id = _list(db, inst.slug, "批次", Purpose.CARE)
    r = s.post(
        f"/api/v1/contact-lists/{list_id}/imports",
        files={"file": ("a.csv", CSV.encode(), "text/csv")},
        data={"mapping_template": name},
    )
    assert r.status_code == 202, r.text
    assert _wait(s, r.json()["id"])["status"] == "finished"
    with db.scoped() as session:
        set_tenant(session, inst.id)
        start = session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.import.start")).one()
        assert start.details["mapping"] == "template"
        assert "86013388" not in json.dumps(start.details, ensure_ascii=False)
