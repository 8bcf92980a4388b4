"""Invoice pages: the institution's invoices by month, lines, CSV and PDF downloads audited as in the API; the
operator's margin report; nothing of another institution."""

from __future__ import annotations

import re
from typing import Any

from callvault.billing.documents import money
from callvault.core.db import Database
from tests.console.helpers import audit_records, october_invoice
from tests.fixtures import World


def test_invoices_by_month_with_audited_downloads(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin", "supervisor"))
    invoice = october_invoice(db, inst.id)
    admin = login(inst.accounts["admin"])

    page = admin.get("/console/invoices")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert f'data-invoice="{invoice.id}"' in page.text and invoice.number in page.text
    assert f'data-invoice="{invoice.id}"' in admin.get("/console/invoices?month=2026-10").text
    assert "data-invoice=" not in admin.get("/console/invoices?month=2026-09").text
    bad = admin.get("/console/invoices?month=October")
    assert bad.status_code == 422 and "month" in bad.text

    detail = admin.get(f"/console/invoices/{invoice.id}")
    assert detail.status_code == 200
    assert re.search(rf'id="invoice-total">{re.escape(money(invoice.total))} CNY<', detail.text)
    assert detail.text.count("<tr><td>") == len(invoice.lines)

    csv = admin.get(f"/console/invoices/{invoice.id}/csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert f'filename="{invoice.number}.csv"' in csv.headers["content-disposition"]
    assert csv.headers["cache-control"] == "no-store"
    assert csv.content.decode("utf-8-sig").startswith("invoice,month,position")
    pdf = admin.get(f"/console/invoices/{invoice.id}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    downloads = audit_records(db, inst.id, "billing.invoice.downloaded")
    assert [(e.object_id, e.details["format"]) for e in downloads] == [
        (str(invoice.id), "csv"),
        (str(invoice.id), "pdf"),
    ]

    # The supervisor holds no billing.read.
    sup = login(inst.accounts["supervisor"])
    assert sup.get("/console/invoices").status_code == 403
    assert sup.get(f"/console/invoices/{invoice.id}/csv").status_code == 403
    assert len(audit_records(db, inst.id, "billing.invoice.downloaded")) == 2


def test_margin_report_is_the_operators(world: World, db: Database, login: Any) -> None:
    inst = world.institution(roles=("admin",))
    october_invoice(db, inst.id)
    op = login(world.operator_user())
    page = op.get("/console/margin?month=2026-10")
    assert page.status_code == 200
    row = re.search(rf'<tr data-institution="{inst.slug}">(.*?)</tr>', page.text, re.S)
    assert row, "the institution's legs are in the report"
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row.group(1))
    legs, _minutes, price, cost, margin, _missing = cells
    assert legs == "1" and float(margin) == float(price) - float(cost) and float(cost) > 0
    assert 'href="/console/margin"' in op.get("/console").text
    assert op.get("/console/margin?month=13-2026").status_code == 422
    admin = login(inst.accounts["admin"])
    assert admin.get("/console/margin?month=2026-10").status_code == 403
    assert 'href="/console/margin"' not in admin.get("/console").text


def test_institution_a_cannot_open_b_invoices(world: World, db: Database, login: Any) -> None:
    a, b = world.institution(roles=("admin",)), world.institution(roles=())
    theirs = october_invoice(db, b.id)
    a_admin = login(a.accounts["admin"])
    for suffix in ("", "/csv", "/pdf"):
        assert a_admin.get(f"/console/invoices/{theirs.id}{suffix}").status_code == 404, suffix
    assert str(theirs.id) not in a_admin.get("/console/invoices").text
    assert audit_records(db, b.id, "billing.invoice.downloaded") == []
