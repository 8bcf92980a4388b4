"""Test harness: every test runs against a real database — SQLite by default, PostgreSQL with
``CALLVAULT_TEST_DB=postgresql`` (a fresh database per run, the application connected as a non-owner role)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="callvault-test-"))
BACKEND = os.environ.get("CALLVAULT_TEST_DB", "sqlite")
PG_HOST = os.environ.get("CALLVAULT_TEST_PG", "postgres@127.0.0.1:5432")
PG_DB = f"cvtest_{uuid.uuid4().hex[:12]}"

os.environ.update(
    {
        "CALLVAULT_DATA_DIR": str(_TMP / "data"),
        "CALLVAULT_SECRET_KEY": "test-secret-key-" + uuid.uuid4().hex,
        # Real argon2id with lighter cost parameters, so hundreds of logins fit in a test run.
        "CALLVAULT_ARGON2_TIME_COST": "1",
        "CALLVAULT_ARGON2_MEMORY_KIB": "8192",
        "CALLVAULT_ARGON2_PARALLELISM": "1",
        "CALLVAULT_LOG_JSON": "true",
        "CALLVAULT_MASTER_KEY_FILE": str(_TMP / "master.key"),
        # Drop directories are polled by direct calls in tests, never by a server's background thread.
        "CALLVAULT_DROPBOX_POLL_SECONDS": "0",
        # Background loops run only where a test starts them (tests/services); elsewhere tests call them directly.
        "CALLVAULT_SERVICES": "false",
    }
)
if BACKEND == "postgresql":
    os.environ["CALLVAULT_DATABASE_ADMIN_URL"] = f"postgresql+psycopg://{PG_HOST}/{PG_DB}"
    app_host = PG_HOST.split("@", 1)[1]
    os.environ["CALLVAULT_DATABASE_URL"] = f"postgresql+psycopg://callvault_app@{app_host}/{PG_DB}"

from callvault.config import Settings, get_settings  # noqa: E402
from callvault.core import clock  # noqa: E402
from callvault.core.db import Database  # noqa: E402
from callvault.migrations.runner import upgrade  # noqa: E402
from callvault.security.vault import MasterKey  # noqa: E402

# One master key for the run (0600, as in production); subprocess CLI tests inherit the variable.
MasterKey.generate_to(_TMP / "master.key")

pytest_plugins = ["tests.fixtures", "tests.canary"]


def _pg_admin(dbname: str = "postgres"):  # type: ignore[no-untyped-def]
    import psycopg

    user, host = PG_HOST.split("@", 1)
    hostname, port = host.split(":")
    return psycopg.connect(host=hostname, port=int(port), user=user, dbname=dbname, autocommit=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backend: database backend under test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="PostgreSQL-only test; this run uses SQLite")
    for item in items:
        if "postgres_only" in item.keywords and BACKEND != "postgresql":
            item.add_marker(skip_pg)


def pytest_report_header() -> str:
    return f"CallVault database backend: {BACKEND}"


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    get_settings.cache_clear()
    s = get_settings()
    if BACKEND == "postgresql":
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
    upgrade(s)
    yield s
    from tests.canary import scan_database

    scan_database(s.effective_admin_url)
    if BACKEND == "postgresql":
        with _pg_admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (PG_DB,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}"')


@pytest.fixture(scope="session")
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    yield database
    database.dispose()


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
def backend() -> str:
    return BACKEND
