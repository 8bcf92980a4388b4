"""Property-based API testing from the OpenAPI schema: no 5xx, every response conforms to the schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import select

from callvault.identity import service as identity
from callvault.identity.models import Role
from callvault.identity.permissions import permissions_for
from callvault.identity.schemas import RoleCreate, UserCreate
from callvault.security.principal import system_principal
from callvault.tenancy import service as tenancy
from tests.fixtures import PASSWORD, World, unique_slug


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    # The wallboard stream runs until the client leaves (an in-process client waits for the end of the response);
    # tests/acd/test_stats.py reads it a bounded number of events at a time.
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    return schema.exclude(path="/api/v1/auth/logout").exclude(path="/api/v1/acd/stats/stream")


@pytest.fixture(scope="module")
def auth_headers(app: FastAPI, db: Any) -> dict[str, str]:
    """A user holding every institution permission, logged in through the API."""
    from fastapi.testclient import TestClient

    world = World(db)
    inst = world.institution(roles=(), slug=unique_slug("st"))
    with db.scoped() as session:
        t = tenancy.bind(session, slug=inst.slug)
        actor = system_principal(tenant_id=t.id, tenant_slug=t.slug, tenant_kind=t.kind)
        role = identity.create_role(
            session,
            actor=actor,
            data=RoleCreate(name="all", permissions=sorted(permissions_for("institution")), requires_mfa=False),
        )
        agent_role = session.scalars(select(Role).where(Role.name == "agent")).one()
        identity.create_user(
            session,
            actor=actor,
            data=UserCreate(username="fuzzer", password=PASSWORD, role_ids=[role.id, agent_role.id]),
        )
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/api/v1/auth/login", json={"institution": inst.slug, "username": "fuzzer", "password": PASSWORD})
        assert r.status_code == 200
        return {"Cookie": f"callvault_session={r.cookies['callvault_session']}", "X-CSRF-Token": r.json()["csrf_token"]}


def test_api_conforms_to_its_schema(api_schema: Any, auth_headers: dict[str, str]) -> None:
    """Each operation gets generated requests (valid and invalid); all checks run on every response.

    Driven through schemathesis' Python API rather than its pytest plugin, whose hooks lag behind pytest 9.
    Every check runs except "schema-valid data must be accepted": business rules the schema cannot express
    (password strength, a username already taken, an enrolment not in progress) rightly answer 4xx to some
    schema-valid bodies. Invalid data must still be rejected (negative_data_rejection stays on).
    """
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            response = case.call_and_validate(headers=auth_headers, excluded_checks=[positive_data_acceptance])
            assert response.status_code < 500
            assert "Traceback" not in response.text

        try:
            run()
        except Exception as exc:  # collect every failing operation, not only the first
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
