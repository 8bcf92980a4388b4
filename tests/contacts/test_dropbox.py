"""The drop directory (SFTP landing point) with real files on disk, on both backends: completeness, settings,
processed/failed with reports, no second import of the same file, resume after a crash, and path tricks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.contacts.db_helpers import actor_for, contact_count, jobs, stored_contacts
from tests.fixtures import World

from callvault.contacts import dropbox, import_service
from callvault.contacts.mapping import ColumnMapping
from callvault.contacts.models import ContactList
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.dnc.policy import Purpose
from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy

CSV = "姓名,手机\n张三,13800138000\n李四,119\n王五,13800138000\n赵六,139-0013-9000\n"
SETTLE = 60.0


def drop(root: Path, name: str, text: str, *, settings: dict[str, Any] | None = None, done: bool = True) -> Path:
    path = root / "incoming" / name
    path.write_text(text, encoding="utf-8")
    if settings is not None:
        (root / "incoming" / f"{name}.import.json").write_text(json.dumps(settings, ensure_ascii=False), "utf-8")
    if done:
        (root / "incoming" / f"{name}.done").touch()
    return path


def poll(db: Database, data_dir: Path, *, now: float | None = None) -> list[dropbox.Outcome]:
    return dropbox.poll(db, data_dir=data_dir, settle_seconds=SETTLE, now=now)


def result_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_name(f"{path.name}.result.json").read_text(encoding="utf-8"))
    return data


def audit_actions(db: Database, tenant_id: Any) -> list[str]:
    with db.scoped() as session:
        set_tenant(session, tenant_id)
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all())


def test_a_marked_file_is_imported_and_moved_with_its_report(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    root = dropbox.prepare(tmp_path, inst.slug)
    drop(root, "名单.csv", CSV, settings={"list": "每日", "purpose": "care"})
    [outcome] = poll(db, tmp_path)
    assert (outcome.status, outcome.counts) == (
        "imported",
        {"total": 4, "accepted": 2, "rejected": 1, "duplicates": 1},
    )
    assert sorted(os.listdir(root / "incoming")) == [] and os.listdir(root / "processing") == []
    moved = root / "processed" / "名单.csv"
    assert moved.read_text(encoding="utf-8") == CSV and outcome.moved_to == moved
    assert result_of(moved)["accepted"] == 2 and result_of(moved)["import_id"] == str(outcome.import_id)
    report = (root / "processed" / "名单.csv.errors.csv").read_text(encoding="utf-8-sig")
    assert "phone.emergency" in report and "13800138000" not in report
    [job] = jobs(db, inst.id)
    assert (job.status, job.file_name, job.purpose, job.accepted) == ("finished", "名单.csv", "care", 2)
    assert [s.phones for s in stored_contacts(db, inst.id, "每日")] == [("+8613800138000",), ("+8613900139000",)]
    assert {"contact_list.create", "contact.import.start", "contact.import"} <= set(audit_actions(db, inst.id))
    # Nothing left to do: a second pass handles nothing.
    assert poll(db, tmp_path) == []


def test_without_a_marker_a_file_waits_until_it_is_quiet(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    root = dropbox.prepare(tmp_path, inst.slug)
    (root / "incoming" / "dropbox.json").write_text(
        json.dumps({"list": "L", "purpose": "care", "mapping": "map.json"}), "utf-8"
    )
    (root / "incoming" / "map.json").write_text(json.dumps({"phones": ["手机"], "name": "姓名"}), "utf-8")
    path = drop(root, "a.csv", CSV, done=False)
    drop(root, "b.csv.part", CSV, done=False)  # a transfer still under its temporary name
    assert poll(db, tmp_path) == []  # just written: still arriving
    assert path.exists()
    quiet_since = time.time() - SETTLE - 1
    os.utime(path, (quiet_since, quiet_since))
    [outcome] = poll(db, tmp_path)
    assert outcome.status == "imported" and outcome.counts["accepted"] == 2
    # The directory settings and the mapping stay for the next files; the temporary file is left alone.
    assert sorted(os.listdir(root / "incoming")) == ["b.csv.part", "dropbox.json", "map.json"]


def test_the_same_file_twice_is_not_imported_twice(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    root = dropbox.prepare(tmp_path, inst.slug)
    drop(root, "a.csv", CSV, settings={"list": "L", "purpose": "care"})
    [first] = poll(db, tmp_path)
    drop(root, "a.csv", CSV, settings={"list": "L", "purpose": "care"})
    drop(root, "copy.csv", CSV, settings={"list": "other", "purpose": "care"})
    outcomes = poll(db, tmp_path)
    assert [(o.file_name, o.status, o.import_id) for o in outcomes] == [
        ("a.csv", "duplicate", first.import_id),
        ("copy.csv", "duplicate", first.import_id),
    ]
    assert sorted(os.listdir(root / "failed")) == ["a.csv", "a.csv.result.json", "copy.csv", "copy.csv.result.json"]
    assert "already imported" in result_of(root / "failed" / "copy.csv")["error"]
    assert len(jobs(db, inst.id)) == 1 and contact_count(db, inst.id, "L") == 2
    assert audit_actions(db, inst.id).count("contact.dropbox.duplicate") == 2
    # A changed file is a new file; the same name does not overwrite the earlier one in processed/.
    drop(root, "a.csv", CSV + "钱七,13700137000\n", settings={"list": "L", "purpose": "care"})
    [changed] = poll(db, tmp_path)
    assert changed.status == "imported" and changed.counts["accepted"] == 1
    assert changed.moved_to == root / "processed" / "a.csv.1"


def test_unusable_settings_and_files_fail_with_a_reason(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    root = dropbox.prepare(tmp_path, inst.slug)
    drop(root, "none.csv", CSV)
    drop(root, "typo.csv", CSV, settings={"list": "L", "purpose": "care", "lsit": "x"})
    drop(root, "fixed.txt", CSV, settings={"list": "L", "purpose": "care", "format": "fixed"})
    drop(root, "nophone.csv", "a,b\n1,2\n", settings={"list": "L", "purpose": "care"})
    (root / "incoming" / "notjson.csv.import.json").write_text("{list: L", "utf-8")
    drop(root, "notjson.csv", CSV)
    reasons = {o.file_name: (o.status, o.error) for o in poll(db, tmp_path)}
    assert reasons["none.csv"] == ("failed", reasons["none.csv"][1]) and "no settings" in reasons["none.csv"][1]
    assert "lsit" in reasons["typo.csv"][1]
    assert "layout" in reasons["fixed.txt"][1]
    assert "phone column" in reasons["nophone.csv"][1]
    assert "not UTF-8 JSON" in reasons["notjson.csv"][1]
    assert all(status == "failed" for status, _ in reasons.values())
    failed = set(os.listdir(root / "failed"))
    assert {"none.csv", "typo.csv", "typo.csv.import.json", "nophone.csv.result.json"} <= failed
    assert os.listdir(root / "incoming") == [] and contact_count(db, inst.id, "L") == 0
    assert [j.status for j in jobs(db, inst.id)] == ["failed"]  # only the readable one got as far as a job


def test_links_and_path_tricks_are_refused_unread(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    root = dropbox.prepare(tmp_path, inst.slug)
    secret = tmp_path / "secret.csv"
    secret.write_text(CSV, encoding="utf-8")
    incoming = root / "incoming"
    (incoming / "dropbox.json").write_text(json.dumps({"list": "L", "purpose": "care"}), "utf-8")
    (incoming / "out.csv").symlink_to(secret)
    (incoming / "out.csv.done").touch()
    os.link(secret, incoming / "hard.csv")
    (incoming / "hard.csv.done").touch()
    drop(root, "escape.csv", CSV, settings={"list": "L", "purpose": "care", "mapping": "../../secret.json"})
    (tmp_path / "secret.json").write_text(json.dumps({"phones": ["手机"]}), "utf-8")
    drop(root, "linked-settings.csv", CSV)
    (incoming / "linked-settings.csv.import.json").symlink_to(tmp_path / "secret.json")
    (incoming / "subdir").mkdir()
    reasons = {o.file_name: o.error for o in poll(db, tmp_path)}
    assert reasons == {
        "escape.csv": "escape.csv.import.json: mapping must name a file in the same directory",
        "hard.csv": "hard-linked files are not imported",
        "linked-settings.csv": "symbolic links are not followed",
        "out.csv": "symbolic links are not followed",
    }
    assert (root / "failed" / "out.csv").is_symlink() and secret.read_text(encoding="utf-8") == CSV
    assert jobs(db, inst.id) == [] and (incoming / "subdir").is_dir()
    # A symbolic link in place of the institution's directory itself is never entered.
    other = world.institution(roles=())
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "incoming").mkdir(parents=True)
    drop(elsewhere, "x.csv", CSV, settings={"list": "L", "purpose": "care"})
    (tmp_path / "dropbox" / other.slug).symlink_to(elsewhere)
    assert poll(db, tmp_path) == [] and (elsewhere / "incoming" / "x.csv").exists()


def test_a_file_left_in_processing_resumes_its_job(world: World, db: Database, tmp_path: Path) -> None:
    """A crash after the file was taken (the job open, maybe batches stored): the next poll continues the job."""
    inst = world.institution(roles=())
    root = dropbox.prepare(tmp_path, inst.slug)
    path = root / "processing" / "a.csv"
    path.write_text(CSV, encoding="utf-8")
    settings = {"list": "L", "purpose": "care", "format": "auto", "mapping": None, "layout": None}
    (root / "processing" / "a.csv.import.json").write_text(json.dumps(settings), "utf-8")
    actor = actor_for(db, inst.slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        list_id, _ = import_service.ensure_list(session, actor=actor, name="L", purpose=Purpose.CARE)
        started = import_service.start_import(
            session,
            actor=actor,
            list_id=list_id,
            path=path,
            file_name="a.csv",
            fmt="auto",
            mapping=ColumnMapping(phones=("手机",)),
            report_path=None,
            data_dir=tmp_path,
        )
    [outcome] = poll(db, tmp_path)
    assert (outcome.status, outcome.import_id) == ("imported", started.job_id)
    assert [(j.id, j.status, j.accepted) for j in jobs(db, inst.id)] == [(started.job_id, "finished", 2)]
    assert os.listdir(root / "processing") == []


def test_fixed_width_with_a_layout_file(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    root = dropbox.prepare(tmp_path, inst.slug)
    layout = {"fields": [{"name": "姓名", "start": 1, "width": 8}, {"name": "手机", "start": 9, "width": 16}]}
    (root / "incoming" / "layout.json").write_text(json.dumps(layout, ensure_ascii=False), "utf-8")
    path = root / "incoming" / "host.txt"
    path.write_bytes("".join(f"{n:<6}{p:<16}\r\n" for n, p in [("张三", "13800138000")]).encode("gb18030"))
    sidecar = {"list": "主机", "format": "fixed", "layout": "layout.json", "mapping": {"phones": ["手机"]}}
    (root / "incoming" / "host.txt.import.json").write_text(json.dumps(sidecar, ensure_ascii=False), "utf-8")
    (root / "incoming" / "host.txt.done").touch()
    [outcome] = poll(db, tmp_path)
    # No purpose given: a marketing list, so the number without a consent record is refused, and reported.
    assert (outcome.status, outcome.counts["accepted"], outcome.counts["rejected"]) == ("imported", 0, 1)
    report = (root / "processed" / "host.txt.errors.csv").read_text(encoding="utf-8-sig")
    assert "consent.missing" in report and "no marketing consent" in report
    with db.scoped() as session:
        set_tenant(session, inst.id)
        assert session.scalars(select(ContactList.purpose).where(ContactList.name == "主机")).one() == "marketing"


def test_watch_once_from_the_command_line(world: World, db: Database, settings: Any) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callvault", "contacts", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "200"},
        )

    inst = world.institution(roles=())
    made = cli("dropbox", "--tenant", inst.slug)
    assert made.returncode == 0, made.stderr
    root = Path(made.stdout.strip())
    assert root == dropbox.tenant_dir(settings.data_dir, inst.slug).resolve()
    assert sorted(os.listdir(root)) == ["failed", "incoming", "processed", "processing"]
    missing = cli("dropbox", "--tenant", "no-such-bank")
    assert missing.returncode == 1 and "no institution" in missing.stderr and "Traceback" not in missing.stderr
    drop(root, "a.csv", CSV, settings={"list": "CLI", "purpose": "care"})
    proc = cli("watch", "--once", "--json")
    assert proc.returncode == 0, proc.stderr
    [line] = [json.loads(x) for x in proc.stdout.splitlines()]
    assert {k: line[k] for k in ("tenant", "file", "status", "accepted")} == {
        "tenant": inst.slug,
        "file": "a.csv",
        "status": "imported",
        "accepted": 2,
    }
    assert (root / "processed" / "a.csv").exists()


def test_a_file_whose_job_finished_before_the_crash_is_only_moved(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    root = dropbox.prepare(tmp_path, inst.slug)
    path = root / "processing" / "a.csv"
    path.write_text(CSV, encoding="utf-8")
    actor = actor_for(db, inst.slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        list_id, _ = import_service.ensure_list(session, actor=actor, name="L", purpose=Purpose.CARE)
        started = import_service.start_import(
            session,
            actor=actor,
            list_id=list_id,
            path=path,
            file_name="a.csv",
            fmt="auto",
            mapping=None,
            report_path=None,
            data_dir=tmp_path,
        )
    import_service.run_job(db, actor=actor, job_id=started.job_id, path=path)
    settings = {"list": "L", "purpose": "care", "format": "auto", "mapping": None, "layout": None}
    (root / "processing" / "a.csv.import.json").write_text(
        json.dumps({**settings, "import_id": str(started.job_id)}), "utf-8"
    )
    [outcome] = poll(db, tmp_path)
    assert (outcome.status, outcome.import_id, outcome.counts["accepted"]) == ("imported", started.job_id, 2)
    assert (root / "processed" / "a.csv.errors.csv").exists() and len(jobs(db, inst.id)) == 1
    # Damaged stored settings fail the file instead of retrying it forever.
    (root / "processing" / "b.csv").write_text(CSV + "x,13700137000\n", encoding="utf-8")
    (root / "processing" / "b.csv.import.json").write_text("{", "utf-8")
    [damaged] = poll(db, tmp_path)
    assert damaged.status == "failed" and "damaged" in damaged.error


def test_the_server_polls_the_drop_directories_in_the_background(
    world: World, db: Database, settings: Any, tmp_path: Path
) -> None:
    from callvault.main import _start_dropbox_watcher

    inst = world.institution(roles=())
    root = dropbox.prepare(tmp_path, inst.slug)
    drop(root, "a.csv", CSV, settings={"list": "L", "purpose": "care"})
    stop = _start_dropbox_watcher(settings.model_copy(update={"data_dir": tmp_path, "dropbox_poll_seconds": 0.05}), db)
    try:
        # The one bounded wait of this module: it is the background thread itself that is under test.
        deadline = time.monotonic() + 60
        while not (root / "processed" / "a.csv.result.json").exists():
            assert time.monotonic() < deadline, "the background poll did not take the file"
            time.sleep(0.05)
    finally:
        stop.set()
    assert result_of(root / "processed" / "a.csv")["accepted"] == 2
