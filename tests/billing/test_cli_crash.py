"""`callvault billing rate` killed with SIGKILL mid-run, then rerun: every leg rated, none twice; then the invoice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from callvault.billing.models import BillingRatedLeg
from callvault.billing.rating import rate_leg
from callvault.billing.service import rates_of
from callvault.core.db import Database
from callvault.tenancy import service as tenancy
from tests.billing.helpers import OCTOBER, make_leg, tariff_for, trunk_cost, write_ndjson
from tests.fixtures import World


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "callvault", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def _feed(pipe: Path, lines: list[str], released: threading.Event) -> None:
    """Write `lines` into the pipe and keep it open (the reader waits for more) until released."""
    try:
        with pipe.open("w", encoding="utf-8") as writer:
            writer.writelines(lines)
            writer.flush()
            released.wait(120)
    except BrokenPipeError:
        pass  # the reader was killed; that is the point


def _rated(db: Database, institution_id: uuid.UUID) -> int:
    with db.scoped() as session:
        tenancy.operator_principal(session)
        stmt = select(func.count()).select_from(BillingRatedLeg).where(BillingRatedLeg.institution_id == institution_id)
        return int(session.scalar(stmt) or 0)


def test_kill_9_during_rating_then_rerun_rates_each_leg_exactly_once(
    world: World, db: Database, tmp_path: Path
) -> None:
    inst = world.institution(roles=())
    tariff = tariff_for(db, inst.id)
    trunk_cost(db)
    legs = [make_leg(inst.id, seconds=(i * 7) % 900, start=OCTOBER.replace(day=1 + i % 28)) for i in range(12_000)]
    path = tmp_path / "legs.ndjson"
    write_ndjson(path, legs)
    with path.open("a", encoding="utf-8") as f:
        f.write("{not json\n")  # reported, never a crash

    # The first run reads from a pipe that only ever gets the first part of the file, so it is certainly
    # killed mid-way, whatever the speed of the machine.
    pipe = tmp_path / "legs.fifo"
    os.mkfifo(pipe)
    head = path.read_text(encoding="utf-8").splitlines(keepends=True)[:5_000]
    released = threading.Event()
    feeder = threading.Thread(target=_feed, args=(pipe, head, released), daemon=True)
    feeder.start()
    proc = _cli("billing", "rate", "--legs", str(pipe), "--batch", "100", "--json")
    deadline = time.monotonic() + 120
    while _rated(db, inst.id) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "nothing rated in time"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    released.set()
    feeder.join(timeout=10)
    before = _rated(db, inst.id)
    assert 0 < before <= len(head), "the run was not interrupted mid-way"
    assert before % 100 == 0, "a batch was stored in part"

    rerun = _cli("billing", "rate", "--legs", str(path), "--batch", "500", "--json")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    result = json.loads(out)
    assert result["rated"] == len(legs) - before
    assert result["already_rated"] == before
    assert result["bad_records"] == 1
    assert _rated(db, inst.id) == len(legs)

    rates = rates_of([r.model_dump(mode="json") for r in tariff.rates])
    expected = sum((rate_leg(rates, tariff.message_price, leg).amount for leg in legs), Decimal(0))
    out_dir = tmp_path / "invoices"
    issued = subprocess.run(
        [sys.executable, "-m", "callvault", "billing", "invoice", "--tenant", inst.slug, "--month", "2026-10",
         "--out", str(out_dir), "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    body = json.loads(issued.stdout)
    fees = Decimal(20 * 1800 + 2 * 300 + 900)
    assert Decimal(body["total"]) == (expected + fees).quantize(Decimal("0.01"))
    assert body["legs"] == len(legs)
    csv_path, pdf_path = (Path(p) for p in body["files"])
    assert pdf_path.read_bytes().startswith(b"%PDF-")
    rows = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("invoice,month,position") and rows[-1].split(",")[-1] == body["total"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callvault", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_cli_tables_and_clear_errors(world: World, db: Database, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    tariff_for(db, inst.id)
    path = tmp_path / "legs.ndjson"
    write_ndjson(path, [make_leg(inst.id, seconds=90), make_leg(inst.id, closed=False)])
    rated = _run("billing", "rate", "--legs", str(path))
    assert rated.returncode == 0, rated.stderr
    assert "rated" in rated.stdout and "still open" in rated.stdout
    margin = _run("billing", "margin", "--month", "2026-10", "--tenant", inst.slug, "--json")
    assert margin.returncode == 0 and json.loads(margin.stdout)[0]["legs"] == 1
    for args, message in (
        (("billing", "invoice", "--tenant", "no-such-bank", "--month", "2026-10", "--out", str(tmp_path)), "no-such"),
        (("billing", "invoice", "--tenant", inst.slug, "--month", "2026-13", "--out", str(tmp_path)), "YYYY-MM"),
        (("billing", "invoice", "--tenant", inst.slug, "--month", "2099-01", "--out", str(tmp_path)), "not over"),
    ):
        failed = _run(*args)
        assert failed.returncode == 1 and message in failed.stderr, failed.stderr
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
