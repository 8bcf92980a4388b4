"""The `callvault` command line, run as a real process against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pyotp
from fastapi.testclient import TestClient

from callvault.config import Settings
from tests.fixtures import unique_slug


def cv(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callvault", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_tenant_user_apiclient_lifecycle(settings: Settings, client: TestClient) -> None:
    up = cv("db", "upgrade")
    assert up.returncode == 0, up.stderr
    slug = unique_slug("cli")
    r = cv("tenant", "create", slug, "--name", "招商示范银行")
    assert r.returncode == 0, r.stderr
    assert slug in r.stdout
    listed = json.loads(cv("tenant", "list", "--json").stdout)
    assert {"slug": slug, "kind": "institution", "status": "active"}.items() <= next(
        t for t in listed if t["slug"] == slug
    ).items()
    r = cv(
        "user",
        "create",
        "first-admin",
        "--tenant",
        slug,
        "--role",
        "admin",
        "--password-stdin",
        stdin="Cli-password-2026\n",
    )
    assert r.returncode == 0, r.stderr
    # The admin must enrol a second factor at first login.
    login = client.post(
        "/api/v1/auth/login", json={"institution": slug, "username": "first-admin", "password": "Cli-password-2026"}
    )
    assert login.status_code == 200 and login.json()["stage"] == "enrol_totp"
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    secret = client.post("/api/v1/auth/totp/enrol", headers=csrf).json()["secret"]
    assert (
        client.post("/api/v1/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=csrf).status_code
        == 204
    )
    r = cv("user", "reset-2fa", "first-admin", "--tenant", slug)
    assert r.returncode == 0, r.stderr
    r = cv("apiclient", "create", "core-banking", "--tenant", slug, "--permission", "user.read", "--json")
    assert r.returncode == 0, r.stderr
    created: dict[str, Any] = json.loads(r.stdout)
    r = cv("user", "disable-inactive", "--days", "90")
    assert r.returncode == 0, r.stderr
    assert "disabled 0 account(s)" in r.stdout
    assert created["key_id"].startswith(f"cvk.{slug}.") and len(created["secret"]) >= 32


def test_cli_failures_are_clear_and_non_zero() -> None:
    bad_slug = cv("tenant", "create", "Bad Slug!", "--name", "x")
    assert bad_slug.returncode == 1 and "slug" in bad_slug.stderr and "Traceback" not in bad_slug.stderr
    slug = unique_slug("dup")
    assert cv("tenant", "create", slug, "--name", "x").returncode == 0
    dup = cv("tenant", "create", slug, "--name", "x")
    assert dup.returncode == 1 and "exists" in dup.stderr
    weak = cv("user", "create", "u1", "--tenant", slug, "--role", "agent", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "password" in weak.stderr
    role = cv(
        "user", "create", "u1", "--tenant", slug, "--role", "wizard", "--password-stdin", stdin="Long-enough-pass-1\n"
    )
    assert role.returncode == 1 and "unknown role" in role.stderr
    nobody = cv("user", "reset-2fa", "ghost", "--tenant", slug)
    assert nobody.returncode == 1 and "no user" in nobody.stderr
    nowhere = cv("apiclient", "create", "x", "--tenant", "no-such-bank", "--permission", "user.read")
    assert nowhere.returncode == 1 and "no institution" in nowhere.stderr


def test_cli_refuses_an_unmigrated_database(tmp_path: Any) -> None:
    r = cv(
        "tenant",
        "list",
        env={
            "CALLVAULT_DATABASE_URL": f"sqlite+pysqlite:///{tmp_path}/empty.sqlite3",
            "CALLVAULT_DATABASE_ADMIN_URL": "",
        },
    )
    assert r.returncode == 1 and "callvault db upgrade" in r.stderr
