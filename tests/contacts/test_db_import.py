"""List import into the database (both backends): every format, duplicates against the list, DNC, the CLI,
and kill -9 in the middle of an import followed by a rerun that loses nothing and repeats nothing."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.contacts.db_helpers import actor_for, contact_count, jobs, stored_contacts
from tests.fixtures import World

from callvault.config import Settings
from callvault.contacts import import_service
from callvault.contacts.mapping import ColumnMapping
from callvault.contacts.pipeline import ImportResult
from callvault.core import clock
from callvault.core.db import Database
from callvault.dnc import service as dnc
from callvault.dnc.policy import DncScope, Purpose
from callvault.dnc.schemas import ConsentCreate, DncCreate
from callvault.tenancy import service as tenancy

MAPPING = ColumnMapping(phones=("手机", "备用"), name="姓名")


def import_file(
    db: Database,
    settings: Settings,
    slug: str,
    list_name: str,
    path: Path,
    *,
    mapping: ColumnMapping | None = MAPPING,
    # Not marketing unless a test is about it: marketing also needs a consent record per number.
    purpose: Purpose | None = Purpose.CARE,
    layout: Path | None = None,
    fmt: str = "auto",
) -> ImportResult:
    actor = actor_for(db, slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=slug)
        list_id, _ = import_service.ensure_list(session, actor=actor, name=list_name, purpose=purpose)
        started = import_service.start_import(
            session,
            actor=actor,
            list_id=list_id,
            path=path,
            file_name=path.name,
            fmt=fmt,
            mapping=mapping,
            report_path=None,
            data_dir=settings.data_dir,
        )
    result = import_service.run_job(db, actor=actor, job_id=started.job_id, path=path, layout=layout)
    assert result.total == result.accepted + result.rejected + result.duplicates
    return result


def report_rows(result: ImportResult) -> list[list[str]]:
    return list(csv.reader(result.report_path.read_text(encoding="utf-8-sig").splitlines()))[1:]


ROWS = [("张三", "13800138000", ""), ("李四", "138 0013 8001", "0755-8888 9999"), ("王五", "119", "")]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json", "ndjson", "fixed"])
def test_each_format_lands_in_the_database_encrypted(
    fmt: str, world: World, db: Database, settings: Settings, tmp_path: Path, xlsx: Callable[..., Path]
) -> None:
    inst = world.institution(roles=())
    layout = None
    if fmt == "csv":
        path = tmp_path / "list.csv"
        path.write_text("姓名,手机,备用\n" + "".join(f"{n},{p},{b}\n" for n, p, b in ROWS), encoding="gb18030")
    elif fmt == "xlsx":
        path = xlsx(tmp_path / "list.xlsx", [["姓名", "手机", "备用"], *[list(r) for r in ROWS]])
    elif fmt == "json":
        path = tmp_path / "list.json"
        items = [{"姓名": n, "手机": p, "备用": b} for n, p, b in ROWS]
        path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    elif fmt == "ndjson":
        path = tmp_path / "list.ndjson"
        path.write_text(
            "".join(json.dumps({"姓名": n, "手机": p, "备用": b}, ensure_ascii=False) + "\n" for n, p, b in ROWS),
            encoding="utf-8",
        )
    else:
        path = tmp_path / "list.txt"
        layout = tmp_path / "layout.json"
        layout.write_text(
            json.dumps(
                {
                    "fields": [
                        {"name": "姓名", "start": 1, "width": 8},
                        {"name": "手机", "start": 9, "width": 16},
                        {"name": "备用", "start": 25, "width": 16},
                    ]
                }
            ),
            encoding="utf-8",
        )
        path.write_bytes("".join(f"{n:<6}{p:<16}{b:<16}\r\n" for n, p, b in ROWS).encode("gb18030"))
    result = import_file(db, db.settings, inst.slug, "名单", path, layout=layout, fmt="fixed" if layout else "auto")
    assert (result.total, result.accepted, result.rejected, result.duplicates) == (3, 2, 1, 0)
    stored = stored_contacts(db, inst.id, "名单")
    assert [(s.name, s.phones) for s in stored] == [
        ("张三", ("+8613800138000",)),
        ("李四", ("+8613800138001", "+867558888999" + "9")),
    ]
    assert [r[2] for r in report_rows(result)] == ["phone.emergency"]
    job = jobs(db, inst.id)[-1]
    assert (job.status, job.total, job.accepted, job.rejected) == ("finished", 3, 2, 1)


def test_the_same_file_twice_gives_duplicates_against_the_list(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    path = tmp_path / "list.csv"
    path.write_text("姓名,手机\n甲,13800000001\n乙,13800000002\n丙,13800000001\n", encoding="utf-8")
    first = import_file(db, db.settings, inst.slug, "L", path, mapping=None)
    assert (first.accepted, first.duplicates) == (2, 1)
    second = import_file(db, db.settings, inst.slug, "L", path, mapping=None)
    assert (second.total, second.accepted, second.rejected, second.duplicates) == (3, 0, 0, 3)
    assert contact_count(db, inst.id, "L") == 2
    reasons = [r[3] for r in report_rows(second)]
    assert reasons.count("primary phone already in the list") == 2
    # Another list of the same institution is independent.
    other = import_file(db, db.settings, inst.slug, "M", path, mapping=None)
    assert other.accepted == 2


def test_do_not_call_numbers_are_rejected_according_to_the_purpose(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    actor = actor_for(db, inst.slug)
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        dnc.add_entry(session, actor=actor, data=DncCreate(phone="13800000001", reason="refused marketing"))
    with db.scoped() as session:
        operator = tenancy.operator_principal(session)
        dnc.add_entry(
            session,
            actor=operator,
            data=DncCreate(phone="+86 133-1234-0003", scope=DncScope.GLOBAL, all_purposes=True, source="regulator"),
        )
    path = tmp_path / "list.csv"
    path.write_text("手机\n13800000001\n13312340003\n13800000003\n", encoding="utf-8")
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        for phone in ("13800000001", "13800000003"):  # consent does not lift a do-not-call entry
            dnc.record_consent(
                session,
                actor=actor,
                data=ConsentCreate(phone=phone, granted_at=clock.now(), channel="web_form", evidence_ref="f-1"),
            )
    marketing = import_file(db, db.settings, inst.slug, "营销", path, mapping=None, purpose=Purpose.MARKETING)
    assert (marketing.accepted, marketing.rejected) == (1, 2)
    rows = report_rows(marketing)
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
        ("2", "dnc.listed", "on do-not-call list", "138****0001"),
        ("3", "dnc.listed", "on do-not-call list", "133****0003"),
    ]
    care = import_file(db, db.settings, inst.slug, "关怀", path, mapping=None, purpose=Purpose.CARE)
    assert (care.accepted, care.rejected) == (2, 1)
    # Another institution is bound by the global entry only.
    other = world.institution(roles=())
    elsewhere = import_file(db, db.settings, other.slug, "回访", path, mapping=None, purpose=Purpose.RETURN_VISIT)
    assert (elsewhere.accepted, elsewhere.rejected) == (2, 1)


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "callvault", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def _run_cli(*args: str) -> tuple[int, str, str]:
    proc = _cli(*args)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_cli_json_contract(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    path = tmp_path / "list.csv"
    path.write_text("姓名,手机\n甲,13800000001\n乙,bad\n丙,13800000001\n", encoding="utf-8")
    report = tmp_path / "errors.csv"
    code, out, err = _run_cli(
        "contacts",
        "import",
        str(path),
        "--tenant",
        inst.slug,
        "--list",
        "CLI",
        "--purpose",
        "collections",
        "--report",
        str(report),
        "--json",
    )
    assert code == 0, err
    assert json.loads(out) == {"total": 3, "accepted": 1, "rejected": 1, "duplicates": 1, "report": str(report)}
    lines = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert len(lines) == 3 and "13800000001" not in report.read_text(encoding="utf-8-sig")
    code, _, err = _run_cli("contacts", "import", str(tmp_path / "nope.csv"), "--tenant", inst.slug, "--list", "x")
    assert code == 1 and "no such file" in err and "Traceback" not in err
    code, _, err = _run_cli("contacts", "import", str(path), "--tenant", inst.slug, "--list", "x", "--format", "doc")
    assert code == 1 and "--format" in err
    # --purpose chooses the purpose of a new list; an existing list keeps its own.
    code, _, err = _run_cli(
        "contacts", "import", str(path), "--tenant", inst.slug, "--list", "CLI", "--purpose", "care"
    )
    assert code == 1 and "is for collections" in err and "Traceback" not in err
    code, out, err = _run_cli(
        "contacts", "import", str(path), "--tenant", inst.slug, "--list", "关怀", "--purpose", "care", "--json"
    )
    assert code == 0, err
    assert [j.purpose for j in jobs(db, inst.id)] == ["collections", "care"]


def _big_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("姓名,手机\n")
        for i in range(rows):
            if i % 97 == 0:
                f.write(f"坏{i},12345\n")  # rejected
            elif i % 89 == 0:
                f.write(f"重{i},{13900000000 + i - 1}\n")  # same phone as the row before: duplicate
            else:
                f.write(f"客户{i},{13900000000 + i}\n")


def _wait_for_stored_batches(db: Database, tenant_id: Any, proc: subprocess.Popen[str], at_least: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = jobs(db, tenant_id)
        if found and found[-1].accepted >= at_least:
            return found[-1].accepted
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the import stored nothing in time")


def test_kill_9_during_an_import_then_rerun_loses_nothing_and_repeats_nothing(
    world: World, db: Database, tmp_path: Path
) -> None:
    inst = world.institution(roles=())
    rows = 40_000
    path = tmp_path / "big.csv"
    _big_file(path, rows)
    proc = _cli("contacts", "import", str(path), "--tenant", inst.slug, "--list", "big", "--purpose", "care", "--json")
    stored_before = _wait_for_stored_batches(db, inst.id, proc, at_least=1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    [job] = jobs(db, inst.id)
    assert job.status == "running" and 0 < job.accepted < rows, "killed after the first batch, before the end"
    assert contact_count(db, inst.id, "big") == job.accepted >= stored_before
    code, out, err = _run_cli(
        "contacts", "import", str(path), "--tenant", inst.slug, "--list", "big", "--purpose", "care", "--json"
    )
    assert code == 0, err
    assert "resuming" in err
    resumed = json.loads(out)
    # The same file imported in one go, into another list, for reference.
    code, out, err = _run_cli(
        "contacts", "import", str(path), "--tenant", inst.slug, "--list", "ref", "--purpose", "care", "--json"
    )
    assert code == 0, err
    reference = json.loads(out)
    assert {k: resumed[k] for k in ("total", "accepted", "rejected", "duplicates")} == {
        k: reference[k] for k in ("total", "accepted", "rejected", "duplicates")
    }
    assert resumed["total"] == rows
    stored = stored_contacts(db, inst.id, "big")
    assert len(stored) == resumed["accepted"] == contact_count(db, inst.id, "ref")
    lines = [s.line for s in stored]
    assert len(set(lines)) == len(lines)
    primaries = [s.phones[0] for s in stored]
    assert len(set(primaries)) == len(primaries)
    report = list(csv.reader(Path(resumed["report"]).read_text(encoding="utf-8-sig").splitlines()))[1:]
    assert len(report) == resumed["rejected"] + resumed["duplicates"]
    assert len({r[0] for r in report}) == len(report)  # no report line twice
    assert [j.status for j in jobs(db, inst.id)] == ["finished", "finished"]


def test_marketing_lists_need_a_valid_consent_per_number(world: World, db: Database, tmp_path: Path) -> None:
    """The import applies `listing_verdict`, the dialler's first step: each row counted once, reasons reported."""
    inst = world.institution(roles=())
    actor = actor_for(db, inst.slug)
    now = clock.now()
    with db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)

        def consent(phone: str, **when: Any) -> uuid.UUID:
            data = ConsentCreate(phone=phone, channel="recorded_call", evidence_ref="call-1", **when)
            return dnc.record_consent(session, actor=actor, data=data).id

        consent("13800000001", granted_at=now - timedelta(days=1))
        dnc.withdraw_consent(session, actor=actor, consent_id=consent("13800000002", granted_at=now))
        consent("13800000003", granted_at=now - timedelta(days=400), expires_at=now - timedelta(days=35))
        consent("13800000004", granted_at=now + timedelta(days=1))  # not yet valid
        consent("13800000006", granted_at=now, purpose=Purpose.SURVEY)  # another purpose
        consent("13800000007", granted_at=now)  # consented but refused calls since: the entry wins
        dnc.add_entry(session, actor=actor, data=DncCreate(phone="13800000007"))
    path = tmp_path / "list.csv"
    numbers = [f"1380000000{i}" for i in range(1, 8)]
    path.write_text("手机\n" + "\n".join([*numbers, "13800000001"]) + "\n", encoding="utf-8")
    result = import_file(db, db.settings, inst.slug, "营销", path, mapping=None, purpose=Purpose.MARKETING)
    assert (result.total, result.accepted, result.rejected, result.duplicates) == (8, 1, 6, 1)
    assert [(r[0], r[2], r[3]) for r in report_rows(result)] == [
        ("3", "consent.missing", "no marketing consent"),
        ("4", "consent.missing", "no marketing consent"),
        ("5", "consent.missing", "no marketing consent"),
        ("6", "consent.missing", "no marketing consent"),
        ("7", "consent.missing", "no marketing consent"),
        ("8", "dnc.listed", "on do-not-call list"),
        ("9", "row.duplicate", "same primary phone as an earlier row of this file"),
    ]
    assert [c.phones for c in stored_contacts(db, inst.id, "营销")] == [("+8613800000001",)]
    # The same file for a survey list: consent is not needed, the institution's refusal of marketing does not bind.
    survey = import_file(db, db.settings, inst.slug, "调查", path, mapping=None, purpose=Purpose.SURVEY)
    assert (survey.accepted, survey.rejected, survey.duplicates) == (7, 0, 1)
