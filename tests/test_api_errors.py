"""Every error is RFC 9457 problem+json naming the field, without internals."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.fixtures import World

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id", "errors"}


def _is_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert set(body) == PROBLEM_KEYS
    assert body["status"] == status
    assert "Traceback" not in r.text and "sqlalchemy" not in r.text.lower()
    return body


def test_malformed_json_wrong_types_unknown_fields(world: World, login: Any) -> None:
    s = login(world.institution().accounts["admin"])
    r = s.post("/api/v1/users", content=b'{"username": "x",', headers={"content-type": "application/json"})
    assert _is_problem(r, 400)["type"].endswith("malformed-json")
    r = s.post("/api/v1/users", json={"username": ["a"], "password": "Valid-password-123"})
    assert _is_problem(r, 422)["errors"][0]["field"] == "username"
    r = s.post("/api/v1/users", json={"username": "agent-7", "password": "Valid-password-123", "is_admin": True})
    body = _is_problem(r, 422)
    assert body["errors"][0]["field"] == "is_admin"
    assert "is_admin" in body["detail"]
    r = s.get("/api/v1/users?limit=100000")
    assert _is_problem(r, 422)["errors"][0]["field"] == "query.limit"
    r = s.get("/api/v1/users?cursor=not-a-cursor!")
    assert _is_problem(r, 422)["errors"][0]["field"] == "query.cursor"
    r = s.get("/api/v1/users/not-a-uuid")
    assert _is_problem(r, 422)["errors"][0]["field"] == "path.user_id"


def test_oversized_body_gets_413(world: World, login: Any, client: TestClient) -> None:
    s = login(world.institution().accounts["admin"])
    big = b'{"username": "' + b"a" * 2_000_000 + b'"}'
    r = s.post("/api/v1/users", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"

    # Also without a Content-Length header (chunked upload).
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    r = client.post("/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_unknown_route_and_method(client: TestClient) -> None:
    _is_problem(client.get("/api/v1/no-such-thing"), 404)
    _is_problem(client.put("/api/v1/auth/login", json={}), 405)


def test_unauthenticated(client: TestClient) -> None:
    body = _is_problem(client.get("/api/v1/users"), 401)
    assert body["type"] == "urn:callvault:problem:unauthenticated"


def test_cursor_pagination_walks_every_row_once(world: World, login: Any) -> None:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    for i in range(7):
        assert (
            s.post("/api/v1/users", json={"username": f"agent-{i}", "password": "Valid-password-123"}).status_code
            == 201
        )
    seen: list[str] = []
    cursor = None
    while True:
        r = s.get("/api/v1/users", params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [u["username"] for u in r["items"]]
        cursor = r["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 8 and len(set(seen)) == 8


def test_unstorable_text_is_rejected_not_a_server_error(client: TestClient) -> None:
    """Found by schemathesis on PostgreSQL: a NUL character or a lone surrogate used to reach the database."""
    for username in ("a\u0000b", "x\ud87ay"):
        body = (
            '{"username": "'
            + username.encode("unicode_escape").decode().replace("\\x00", "\\u0000")
            + '", "password": "whatever-123"}'
        )
        r = client.post("/api/v1/auth/login", content=body.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "username"
