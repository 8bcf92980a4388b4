"""Rating into the ledger and invoicing, on the real database: exactly once, totals that add up."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from callvault.billing import invoicing, ledger
from callvault.billing.models import BillingRatedLeg
from callvault.billing.rating import Channel, RatingLeg
from callvault.core.errors import InvalidInput
from callvault.tenancy import service as tenancy
from tests.billing.helpers import OCTOBER, make_leg, tariff_for, trunk_cost
from tests.fixtures import World


def _rate(world: World, legs: list[RatingLeg], batch: int = 7) -> ledger.RatingRun:
    with world.db.scoped() as session:
        actor = tenancy.operator_principal(session)
        return ledger.rate_legs(session, actor=actor, legs=legs, batch_size=batch)


def _ledger(world: World, institution_id: uuid.UUID) -> list[BillingRatedLeg]:
    with world.db.scoped() as session:
        tenancy.operator_principal(session)
        stmt = select(BillingRatedLeg).where(BillingRatedLeg.institution_id == institution_id)
        return list(session.scalars(stmt))


def _issue(world: World, institution_id: uuid.UUID, month: str = "2026-10") -> tuple[invoicing.InvoiceDetail, bool]:
    with world.db.scoped() as session:
        actor = tenancy.operator_principal(session)
        return invoicing.issue_invoice(session, actor=actor, institution_id=institution_id, month=month)


def test_every_closed_leg_rated_once_and_reruns_rate_nothing(world: World) -> None:
    inst = world.institution(roles=())
    tariff_for(world.db, inst.id)
    trunk_cost(world.db)
    legs = [make_leg(inst.id, seconds=s) for s in (1, 59, 61, 600)]
    legs += [make_leg(inst.id, answered=False), make_leg(inst.id, closed=False)]
    legs += [make_leg(inst.id, channel=Channel.MESSAGE, answered=False, seconds=0)]
    first = _rate(world, legs + legs[:2], batch=3)
    assert (first.rated, first.still_open, first.already_rated) == (6, 1, 2)
    again = _rate(world, legs)
    assert (again.rated, again.already_rated, again.still_open) == (0, 6, 1)
    rows = _ledger(world, inst.id)
    assert len(rows) == 6 and len({r.leg_id for r in rows}) == 6
    by_leg = {r.leg_id: r for r in rows}
    # +86138 is 0.12/min in 6 s steps: 61 s -> 66 s -> 0.132.
    assert by_leg[legs[2].leg_id].price == Decimal("0.1320")
    assert by_leg[legs[2].leg_id].cost == Decimal("0.0550")  # carrier: 0.05/min in 6 s steps
    assert by_leg[legs[4].leg_id].price == 0  # unanswered
    assert by_leg[legs[6].leg_id].price == Decimal("0.0450")  # a message


def test_unique_leg_id_refuses_a_second_row(world: World) -> None:
    """The database itself, not only the run's look-up, refuses a leg twice (a racing run, a bug)."""
    inst = world.institution(roles=())
    tariff_for(world.db, inst.id)
    leg = make_leg(inst.id)
    _rate(world, [leg])
    with world.db.scoped() as session:
        tenancy.operator_principal(session)
        row = session.scalars(select(BillingRatedLeg).where(BillingRatedLeg.leg_id == leg.leg_id)).one()
        rows = [{c.name: getattr(row, c.key) for c in BillingRatedLeg.__table__.columns} | {"id": uuid.uuid4()}]
        inserted = session.execute(ledger._insert_new(session), rows).all()
        assert inserted == []
        assert (
            session.scalar(
                select(func.count()).select_from(BillingRatedLeg).where(BillingRatedLeg.leg_id == leg.leg_id)
            )
            == 1
        )


def test_legs_without_tariff_stay_unrated_until_one_exists(world: World) -> None:
    inst = world.institution(roles=())
    legs = [make_leg(inst.id) for _ in range(3)]
    run = _rate(world, legs)
    assert run.rated == 0 and sum(run.unrated.values()) == 3
    tariff_for(world.db, inst.id)
    assert _rate(world, legs).rated == 3


def test_invoice_lines_add_up_and_a_leg_is_on_one_invoice_only(world: World) -> None:
    inst = world.institution(roles=())
    tariff_for(world.db, inst.id)
    campaign = uuid.uuid4()
    legs = [make_leg(inst.id, seconds=s, campaign_id=campaign) for s in (10, 70, 125, 3600)]
    legs += [make_leg(inst.id, destination="+862112345678", number_type="fixed_line", seconds=30)]
    _rate(world, legs)
    invoice, created = _issue(world, inst.id)
    assert created and invoice.legs == 5
    usage = sum((line.amount for line in invoice.lines if line.kind in ("voice", "message")), Decimal(0))
    rated = sum((r.price for r in _ledger(world, inst.id)), Decimal(0))
    assert usage == rated
    assert sum((line.amount for line in invoice.lines), Decimal(0)) == invoice.total
    assert invoice.total == invoice.total.quantize(Decimal("0.01"))
    fees = [line for line in invoice.lines if line.kind in ("seat", "number", "trunk")]
    assert sum((f.amount for f in fees), Decimal(0)) == Decimal(20 * 1800 + 2 * 300 + 900)
    # A rerun returns the same invoice; a late leg of October goes onto November's invoice, not lost, not twice.
    same, created_again = _issue(world, inst.id)
    assert not created_again and same.id == invoice.id and same.total == invoice.total
    late = make_leg(inst.id, seconds=60, start=OCTOBER.replace(day=20))
    _rate(world, [late])
    november, _ = _issue(world, inst.id, "2026-11")
    assert november.legs == 1
    assert {r.invoice_id for r in _ledger(world, inst.id)} == {invoice.id, november.id}


def test_month_not_over_is_refused(world: World) -> None:
    inst = world.institution(roles=())
    with pytest.raises(InvalidInput):
        _issue(world, inst.id, "2099-01")
    with pytest.raises(InvalidInput):
        _issue(world, inst.id, "2026-13")


def test_margin_per_campaign(world: World) -> None:
    inst = world.institution(roles=())
    tariff_for(world.db, inst.id)
    trunk_cost(world.db, "margin-trunk")
    a, b = uuid.uuid4(), uuid.uuid4()
    legs = [make_leg(inst.id, seconds=120, campaign_id=a, trunk="margin-trunk") for _ in range(3)]
    legs += [make_leg(inst.id, seconds=120, campaign_id=b, trunk="unknown-trunk")]
    _rate(world, legs)
    with world.db.scoped() as session:
        actor = tenancy.operator_principal(session)
        rows = {
            r.campaign_id: r
            for r in invoicing.margin_by_campaign(session, actor=actor, month="2026-10", institution_id=inst.id)
        }
    assert rows[a].legs == 3 and rows[a].price == Decimal("0.7200") and rows[a].cost == Decimal("0.3000")
    assert rows[a].margin == Decimal("0.4200") and rows[a].legs_without_cost == 0
    assert rows[b].legs_without_cost == 1 and rows[b].cost == 0


leg_specs = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4000),  # talk seconds
        st.sampled_from(["+8613800138000", "+8602112345678", "4008001234", "95588"]),
        st.booleans(),  # answered
        st.booleans(),  # closed
        st.integers(min_value=0, max_value=29),  # day of October
        st.booleans(),  # a message
    ),
    max_size=40,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=leg_specs, batch=st.integers(min_value=1, max_value=9), repeats=st.integers(min_value=1, max_value=3))
def test_property_no_leg_twice_and_invoice_equals_rated_sum(
    world: World, specs: list[tuple[int, str, bool, bool, int, bool]], batch: int, repeats: int
) -> None:
    inst = world.institution(roles=())
    tariff_for(world.db, inst.id)
    types = {
        "+8613800138000": "mobile",
        "+8602112345678": "fixed_line",
        "4008001234": "toll_free",
        "95588": "short_code",
    }
    legs = [
        make_leg(
            inst.id,
            seconds=seconds,
            destination=dest,
            number_type=types[dest],
            answered=answered,
            closed=closed,
            start=OCTOBER.replace(day=day + 1),
            channel=Channel.MESSAGE if message else Channel.VOICE,
        )
        for seconds, dest, answered, closed, day, message in specs
    ]
    # The same input rated several times (reruns after crashes, overlapping runs) with the legs in any order.
    for _ in range(repeats):
        _rate(world, legs, batch=batch)
    rows = _ledger(world, inst.id)
    closed_ids = {leg.leg_id for leg in legs if leg.closed}
    assert len(rows) == len(closed_ids) and {r.leg_id for r in rows} == closed_ids
    invoice, _ = _issue(world, inst.id)
    usage = sum((line.amount for line in invoice.lines if line.kind in ("voice", "message")), Decimal(0))
    assert usage == sum((r.price for r in rows), Decimal(0))
    assert sum((line.amount for line in invoice.lines), Decimal(0)) == invoice.total
    assert invoice.legs == len(closed_ids)
