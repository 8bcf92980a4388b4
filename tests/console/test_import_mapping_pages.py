"""Mapping templates in the console: saved on their page (audited), offered by the list's import form and applied
to the upload the form sends, a template the file does not fit failing on the import page with nothing stored,
tenant isolation (another institution's template is neither listed nor usable) and CSRF on every write."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from callvault.core.db import Database
from callvault.dnc.policy import Purpose
from tests.console.helpers import audit_records, form
from tests.contacts.db_helpers import contact_count, jobs, stored_contacts
from tests.contacts.test_import_api import _list, _wait
from tests.fixtures import World, unique_slug

# Headers no guess recognises: only a mapping imports this file. 李四's number is too short: rejected.
CSV = "户名,联络号码,备用号码,网点\n张三,13800138000,,东区\n李四,119,,西区\n王五,,13900139000,南区\n"
# The phone columns typed with the full-width comma, as on a Chinese keyboard.
FIELDS = {"phones": "联络号码\uff0c备用号码", "name_column": "户名", "custom": "branch=网点", "trim": "1"}


def _save(s: Any, name: str, **fields: str) -> Any:
    return form(s, "/console/import-mappings", name=name, **{**FIELDS, **fields})


def _template_id(page: str, name: str) -> str:
    found = re.search(r'<option value="([0-9a-f-]{36})">' + re.escape(name) + "</option>", page)
    assert found, f"template {name} not offered"
    return found.group(1)


def _upload(s: Any, list_id: Any, template_id: str) -> Any:
    """What console.js sends: the file, the list's purpose and the chosen template, with the X-CSRF-Token header."""
    return s.post(
        f"/api/v1/contact-lists/{list_id}/imports",
        files={"file": ("名单.csv", CSV.encode(), "text/csv")},
        data={"purpose": "care", "mapping_template_id": template_id},
    )


def test_the_import_form_applies_a_saved_template(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    name = unique_slug("export")
    r = _save(s, name, description="core banking")
    assert r.status_code == 303 and r.headers["location"] == "/console/import-mappings?notice=created"
    page = s.get("/console/import-mappings")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert name in page.text and "<code>联络号码</code>, <code>备用号码</code>" in page.text
    assert "branch: <code>网点</code>" in page.text and f"user:{inst.accounts['admin'].user_id}" in page.text
    [created] = audit_records(db, inst.id, "import_mapping.create")

    list_id = _list(db, inst.slug, "模板导入", Purpose.CARE)
    listing = s.get(f"/console/lists/{list_id}")
    assert '<option value="">根据表头自动识别</option>' in listing.text
    template_id = _template_id(listing.text, name)
    assert template_id == created.object_id

    r = _upload(s, list_id, template_id)
    assert r.status_code == 202, r.text
    done = _wait(s, r.json()["id"])
    assert (done["status"], done["total"], done["accepted"], done["rejected"]) == ("finished", 3, 2, 1)
    stored = stored_contacts(db, inst.id, "模板导入")
    assert [(c.name, c.phones) for c in stored] == [("张三", ("+8613800138000",)), ("王五", ("+8613900139000",))]
    [job] = jobs(db, inst.id)
    assert job.mapping_template == name and job.mapping["custom"] == {"branch": "网点"}
    # The rejected row is in the error report the import page links to.
    page = s.get(f"/console/imports/{done['id']}")
    assert 'id="error-report"' in page.text
    report = list(csv.reader(io.StringIO(s.get(f"/console/imports/{done['id']}/errors").content.decode("utf-8-sig"))))
    assert [row[0] for row in report[1:]] == ["3"] and report[1][1] == "联络号码"


def test_a_template_naming_a_missing_column_shows_the_error_and_stores_nothing(
    world: World, db: Database, login: Any
) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    name = unique_slug("old")
    assert _save(s, name, id_number_column="证件号码").status_code == 303
    list_id = _list(db, inst.slug, "缺列", Purpose.CARE)
    r = _upload(s, list_id, _template_id(s.get(f"/console/lists/{list_id}").text, name))
    failed = _wait(s, r.json()["id"])
    assert (failed["status"], failed["total"]) == ("failed", 0)
    page = s.get(f"/console/imports/{failed['id']}")
    [message] = re.findall(r'<p class="error" role="alert" id="import-failure">([^<]*)</p>', page.text)
    assert message.startswith("导入失败\uff1a") and f"mapping template &#39;{name}&#39;" in message
    assert "&#39;证件号码&#39; is not in the file" in message
    assert contact_count(db, inst.id, "缺列") == 0


def test_the_form_refuses_a_mapping_that_cannot_work(world: World, db: Database, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    r = _save(s, unique_slug("nophone"), phones=" , ")
    assert r.status_code == 422 and "<code>mapping</code>" in r.text
    r = _save(s, unique_slug("custom"), custom="branch")
    assert r.status_code == 422 and "<code>custom</code>" in r.text and 'value="联络号码\uff0c备用号码"' in r.text
    name = unique_slug("twice")
    assert _save(s, name).status_code == 303
    r = _save(s, name)
    assert r.status_code == 422 and "a mapping template with this name exists" in r.text
    assert len(audit_records(db, inst.id, "import_mapping.create")) == 1


def test_delete_and_csrf(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin", "agent"))
    s = login(inst.accounts["admin"])
    name = unique_slug("gone")
    assert s.client.post("/console/import-mappings", data={"name": name, **FIELDS}).status_code == 403
    assert audit_records(db, inst.id, "import_mapping.create") == []
    assert _save(s, name).status_code == 303
    list_id = _list(db, inst.slug, "删除", Purpose.CARE)
    template_id = _template_id(s.get(f"/console/lists/{list_id}").text, name)
    url = f"/console/import-mappings/{template_id}/delete"
    assert s.client.post(url, follow_redirects=False).status_code == 403  # no CSRF token
    # The upload the form sends is refused without the session's X-CSRF-Token header, like every cookie write.
    r = s.client.post(
        f"/api/v1/contact-lists/{list_id}/imports",
        files={"file": ("a.csv", CSV.encode(), "text/csv")},
        data={"mapping_template_id": template_id},
    )
    assert r.status_code == 403 and jobs(db, inst.id) == []
    agent = login(inst.accounts["agent"])  # does not import lists, so does not keep their templates
    assert agent.get("/console/import-mappings").status_code == 403
    assert form(agent, url).status_code == 403
    r = form(s, url)
    assert r.status_code == 303 and r.headers["location"] == "/console/import-mappings?notice=removed"
    assert name not in s.get("/console/import-mappings").text
    assert [e.object_id for e in audit_records(db, inst.id, "import_mapping.delete")] == [template_id]
    assert form(s, url).status_code == 404


def test_another_institutions_template_is_not_listed_nor_usable(world: World, db: Database, login: Any) -> None:
    a, b = world.institution(), world.institution()
    b_admin = login(b.accounts["admin"])
    theirs = unique_slug("theirs")
    assert _save(b_admin, theirs).status_code == 303
    b_list = _list(db, b.slug, "乙", Purpose.CARE)
    their_id = _template_id(b_admin.get(f"/console/lists/{b_list}").text, theirs)

    a_admin = login(a.accounts["admin"])
    a_list = _list(db, a.slug, "甲", Purpose.CARE)
    assert theirs not in a_admin.get(f"/console/lists/{a_list}").text
    assert theirs not in a_admin.get("/console/import-mappings").text
    r = _upload(a_admin, a_list, their_id)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert jobs(db, a.id) == []
    assert form(a_admin, f"/console/import-mappings/{their_id}/delete").status_code == 404
    assert theirs in b_admin.get("/console/import-mappings").text
    assert audit_records(db, b.id, "import_mapping.delete") == []
