"""Billing API: tariffs for operator staff, invoices for the institution (downloads audited)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy
from tests.billing.helpers import make_leg, tariff_for
from tests.billing.test_ledger import _issue, _rate
from tests.fixtures import World

TARIFF = {
    "name": "Outsourcing 2026",
    "valid_from": "2026-01-01",
    "message_price": "0.045",
    "rates": [
        {"destination": "+86", "price_per_minute": "0.15", "minimum_seconds": 60, "increment_seconds": 60},
        {"destination": "toll_free", "price_per_minute": "0.08"},
    ],
    "monthly_fees": [{"kind": "seat", "description": "坐席 Agent seats", "quantity": 20, "unit_price": "1800"}],
}


def test_operator_keeps_tariffs(world: World, login: Any) -> None:
    inst = world.institution()
    op = login(world.operator_user())
    created = op.post("/api/v1/billing/tariffs", json=TARIFF | {"institution_id": str(inst.id)})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["rates"][0]["price_per_minute"] == "0.15" and body["monthly_fees"][0]["unit_price"] == "1800"
    url = f"/api/v1/billing/tariffs/{body['id']}"
    assert op.get(url).json()["name"] == "Outsourcing 2026"
    listed = op.get(f"/api/v1/billing/tariffs?institution_id={inst.id}").json()["items"]
    assert [t["id"] for t in listed] == [body["id"]]
    again = op.post("/api/v1/billing/tariffs", json=TARIFF | {"institution_id": str(inst.id)})
    assert again.status_code == 409
    update = {k: v for k, v in TARIFF.items() if k != "valid_from"} | {"message_price": "0.05"}
    assert op.put(url, json=update).json()["message_price"] == "0.05"
    assert op.delete(url).status_code == 204
    assert op.get(url).status_code == 404
    with world.db.scoped() as session:
        tenancy.operator_principal(session)
        actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == body["id"])))
    assert actions == {"billing.tariff.created", "billing.tariff.updated", "billing.tariff.deleted"}


def test_bad_tariffs_are_refused_with_the_field(world: World, login: Any) -> None:
    inst = world.institution(roles=())
    op = login(world.operator_user())
    base = TARIFF | {"institution_id": str(inst.id)}
    for bad, field in (
        ({"rates": [{"destination": "+86x", "price_per_minute": "0.1"}]}, "rates.0.destination"),
        ({"rates": [{"destination": "*", "price_per_minute": "-1"}]}, "rates.0.price_per_minute"),
        ({"rates": [{"destination": "*", "price_per_minute": "0.123456"}]}, "rates.0.price_per_minute"),
        (
            {"rates": [{"destination": "*", "price_per_minute": "1", "increment_seconds": 0}]},
            "rates.0.increment_seconds",
        ),
        ({"rates": [{"destination": "*", "price_per_minute": "1"}] * 2}, "body"),
        ({"currency": "yuan"}, "currency"),
        ({"surprise": 1}, "surprise"),
    ):
        r = op.post("/api/v1/billing/tariffs", json=base | bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert any(e["field"].startswith(field) or field == "body" for e in r.json()["errors"]), r.json()
    r = op.post("/api/v1/billing/tariffs", json=TARIFF | {"institution_id": str(world.operator_actor()[1])})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "institution_id"


def test_institution_reads_and_downloads_its_invoices(world: World, login: Any) -> None:
    inst = world.institution()
    tariff_for(world.db, inst.id)
    _rate(world, [make_leg(inst.id, seconds=s) for s in (30, 90, 400)])
    invoice, _ = _issue(world, inst.id)
    admin = login(inst.accounts["admin"])
    assert admin.get("/api/v1/billing/tariffs").status_code == 403
    listed = admin.get("/api/v1/billing/invoices").json()["items"]
    assert [i["id"] for i in listed] == [str(invoice.id)]
    detail = admin.get(f"/api/v1/billing/invoices/{invoice.id}").json()
    assert Decimal(detail["total"]) == invoice.total and len(detail["lines"]) == len(invoice.lines)
    csv = admin.get(f"/api/v1/billing/invoices/{invoice.id}/csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.decode("utf-8-sig").splitlines()[-1].endswith(f",{invoice.total:.2f}")
    pdf = admin.get(f"/api/v1/billing/invoices/{invoice.id}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert f'filename="{invoice.number}.pdf"' in pdf.headers["content-disposition"]
    with world.db.scoped() as session:
        tenancy.bind(session, slug=inst.slug)
        stmt = select(AuditEvent.details).where(AuditEvent.action == "billing.invoice.downloaded")
        formats = sorted(d["format"] for d in session.scalars(stmt))
    assert formats == ["csv", "pdf"]


def test_margin_report_is_for_operator_staff(world: World, login: Any) -> None:
    inst = world.institution()
    tariff_for(world.db, inst.id)
    _rate(world, [make_leg(inst.id, seconds=120)])
    op = login(world.operator_user())
    rows = op.get(f"/api/v1/billing/margin?month=2026-10&institution_id={inst.id}").json()
    assert rows[0]["legs"] == 1 and rows[0]["price"] == "0.2400"
    assert login(inst.accounts["admin"]).get("/api/v1/billing/margin?month=2026-10").status_code == 403
    assert op.get("/api/v1/billing/margin?month=2026-13").status_code == 422
