"""Logs are JSON with request id, tenant and actor, and never carry phone, ID or card numbers."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import structlog

from callvault.logging import configure
from tests.fixtures import World
from tests.security.pii import CANARY_CARD, CANARY_ID, CANARY_PHONE


@pytest.mark.sec("SEC-24")
def test_log_lines_are_json_and_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure(level="INFO", json=True)
    log = structlog.get_logger("test")
    structlog.contextvars.bind_contextvars(request_id="r-1", tenant="demo-bank")
    log.info("customer called", note=f"from {CANARY_PHONE} id {CANARY_ID}", nested={"card": CANARY_CARD})
    logging.getLogger("library").warning("raw library line with %s", CANARY_PHONE)
    structlog.contextvars.clear_contextvars()
    err = capsys.readouterr().err
    for canary in (CANARY_PHONE, CANARY_ID, CANARY_CARD, CANARY_CARD.replace(" ", "")):
        assert canary not in err
    line = json.loads(next(x for x in err.splitlines() if "customer called" in x))
    assert line["request_id"] == "r-1" and line["tenant"] == "demo-bank"
    assert "[phone]" in line["note"] and "[id]" in line["note"] and line["nested"]["card"] == "[card]"


def test_non_sensitive_numbers_survive() -> None:
    from callvault.security.redaction import redact_text

    assert redact_text("queue 42 waited 1234 ms, order 2026112312") == "queue 42 waited 1234 ms, order 2026112312"
    # A 16-digit number failing the Luhn check is not a card.
    assert redact_text("ref 1234567812345678") == "ref 1234567812345678"


@pytest.mark.sec("SEC-24")
def test_no_canary_reaches_logs_or_audit_through_the_api(
    world: World, login: Any, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import select

    from callvault.core.tenant_context import set_tenant
    from callvault.security.audit_models import AuditEvent

    configure(level="DEBUG", json=True)
    inst = world.institution()
    s = login(inst.accounts["admin"])
    s.post(
        "/api/v1/users",
        json={"username": "agent-x", "password": "Valid-password-123", "display_name": f"call me {CANARY_PHONE}"},
    )
    s.post("/api/v1/auth/login", json={"institution": inst.slug, "username": CANARY_PHONE, "password": CANARY_CARD})
    err = capsys.readouterr().err
    assert CANARY_PHONE not in err and CANARY_CARD not in err
    with db.scoped() as session:
        set_tenant(session, inst.id)
        dumped = json.dumps(
            [
                {c: str(getattr(e, c)) for c in ("actor", "details", "object_id")}
                for e in session.scalars(select(AuditEvent))
            ]
        )
    assert CANARY_CARD not in dumped
