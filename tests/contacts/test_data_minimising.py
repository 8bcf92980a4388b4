"""Data-minimising mode: only the reference id and phones are stored; details come live from the institution's
system (a real HTTP server in the test), masked and revealed by the same rules, reveals audited."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from tests.fixtures import World
from tests.vault_fixtures import PHONE, store_contact

from callvault.contacts.models import ContactRecord
from callvault.core.db import Database
from callvault.core.errors import InvalidInput
from callvault.core.tenant_context import set_tenant
from callvault.security.audit_models import AuditEvent
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantUpdate

CUSTOMERS = {
    "C-1001/x": {
        "name": "李小龙",
        "id_number": "44030419401127001X",
        "card_number": "6222021111222233334",
        "custom": {"email": "lee@example.com"},
    }
}


class _InstitutionCrm(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        _InstitutionCrm.requests.append(self.path)
        from urllib.parse import unquote

        ref = unquote(self.path.removeprefix("/customers/"))
        if ref == "slow":
            return  # never answers in time: the client times out
        found = CUSTOMERS.get(ref)
        body = json.dumps(found).encode() if found else b'{"error": "unknown"}'
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def crm_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _InstitutionCrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/customers/{{ref}}"
    server.shutdown()
    server.server_close()


def _minimising(db: Database, tenant_id: Any, url: str, timeout: float = 3.0) -> None:
    with db.scoped() as session:
        tenancy.update_tenant(
            session,
            actor=tenancy.operator_principal(session),
            tenant_id=tenant_id,
            data=TenantUpdate(
                settings={"data_minimising": {"enabled": True, "lookup_url": url, "timeout_seconds": timeout}}
            ),
        )


def test_details_are_fetched_live_and_never_stored(db: Database, world: World, login: Any, crm_url: str) -> None:
    inst = world.institution(roles=("agent", "supervisor"))
    _minimising(db, inst.id, crm_url)
    stored = store_contact(db, inst.slug, external_ref="C-1001/x", minimise=True)
    with db.scoped() as session:
        set_tenant(session, inst.id)
        row = session.get(ContactRecord, stored.contact_id)
        assert row is not None and row.external_ref == "C-1001/x"
        assert (row.name_ct, row.id_number_ct, row.id_number_bidx, row.card_number_ct, row.custom_sensitive_ct) == (
            None,
            None,
            None,
            None,
            None,
        )
    agent = login(inst.accounts["agent"])
    shown = agent.get(f"/api/v1/contacts/{stored.contact_id}").json()
    assert (shown["name"], shown["id_number"], shown["card_number"]) == (
        "李*",
        "440***********001X",
        "622202*********3334",
    )
    assert shown["custom"] == {"segment": "gold", "email": "l***@example.com"}
    assert shown["phones"][0]["number"] == "+86138****8000"  # phones are stored: they are needed to dial
    assert _InstitutionCrm.requests[-1] == "/customers/C-1001%2Fx"
    # Look-up by phone still works through the blind index.
    assert agent.get("/api/v1/contacts", params={"phone": PHONE}).json()["items"][0]["name"] == "李*"

    supervisor = login(inst.accounts["supervisor"])
    r = supervisor.post(
        f"/api/v1/contacts/{stored.contact_id}/reveal",
        json={"fields": ["name", "card_number"], "reason": "identity_verification"},
    )
    assert r.status_code == 200 and (r.json()["name"], r.json()["card_number"]) == ("李小龙", "6222021111222233334")
    with db.scoped() as session:
        set_tenant(session, inst.id)
        reveals = session.scalars(select(AuditEvent).where(AuditEvent.action == "pii.reveal")).all()
    assert sorted((e.details["field"], e.details["source"]) for e in reveals) == [
        ("card_number", "live"),
        ("name", "live"),
    ]
    assert not any("李小龙" in json.dumps(e.details) for e in reveals)


def test_institution_system_failures_are_502_problems(db: Database, world: World, login: Any, crm_url: str) -> None:
    inst = world.institution(roles=("agent",))
    _minimising(db, inst.id, crm_url, timeout=0.5)
    unknown = store_contact(db, inst.slug, external_ref="C-404", minimise=True)
    slow = store_contact(db, inst.slug, external_ref="slow", minimise=True, phone="+8613900007777")
    agent = login(inst.accounts["agent"])
    for stored, detail in ((unknown, "does not know this customer"), (slow, "did not answer")):
        r = agent.get(f"/api/v1/contacts/{stored.contact_id}")
        assert r.status_code == 502 and r.headers["content-type"] == "application/problem+json"
        assert detail in r.json()["detail"]
    _minimising(db, inst.id, "http://127.0.0.1:9/customers/{ref}")  # nothing listens on the discard port
    assert agent.get(f"/api/v1/contacts/{unknown.contact_id}").status_code == 502


def test_minimising_setting_is_validated(db: Database, world: World) -> None:
    inst = world.institution(roles=())
    for url in ("http://crm.bank.example/customers/{ref}", "https://crm.bank.example/customers", "file:///etc/{ref}"):
        with pytest.raises(InvalidInput):
            _minimising(db, inst.id, url)
    _minimising(db, inst.id, "https://crm.bank.example/customers/{ref}")
