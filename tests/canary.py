"""Canary scan (``CALLVAULT_CANARY=1``): no canary phone, ID or card number may leave the app in a log line, on
stdout/stderr or in the audit and event tables, during the whole test run.

Collected as the run goes: the raw message of every record of the ``callvault`` loggers (before any redaction:
the app must not log such values at all), and the stdout/stderr pytest captured in every phase of every test
(structlog lines and library log lines as emitted, i.e. after the app's redacting formatter; a test may feed a
library logger a canary on purpose to check that redaction). At the end, the audit tables of the test database are
scanned too (`scan_database`, called from conftest before the database is dropped). Any hit fails the
session, naming where it was seen. Cheap: a few substring searches per captured text.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from typing import Final

import pytest

from tests.security.pii import CANARIES

ENABLED: Final = os.environ.get("CALLVAULT_CANARY") == "1"
_SEPARATORS: Final = re.compile(r"[\s\-()]")
# Each canary as written and without separators, upper case (ID numbers end in X or x); found under its compact form.
_NEEDLES: Final = {
    form: _SEPARATORS.sub("", c).upper() for c in CANARIES for form in (c.upper(), _SEPARATORS.sub("", c).upper())
}
_hits: list[str] = []
_texts_scanned = 0


def find_canaries(text: str) -> list[str]:
    """The canary values in `text`, also when written with spaces, dashes or brackets between digits."""
    if not text:
        return []
    upper = text.upper()
    compact = _SEPARATORS.sub("", upper)
    return sorted({name for needle, name in _NEEDLES.items() if needle in upper or needle in compact})


def scan(where: str, texts: Iterable[str]) -> None:
    global _texts_scanned
    for text in texts:
        _texts_scanned += 1
        found = find_canaries(text)
        if found:
            _hits.append(f"{where}: {', '.join(found)}")


class _RawRecords(logging.Handler):
    """Sees the app's records before any formatter could redact them."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.where = "session"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not our concern here
            message = str(record.msg)
        scan(f"log record {record.name} during {self.where}", [message, str(record.__dict__.get("exc_text") or "")])


_handler = _RawRecords()


def pytest_sessionstart(session: pytest.Session) -> None:
    if ENABLED:
        app_logger = logging.getLogger("callvault")
        app_logger.addHandler(_handler)
        app_logger.setLevel(logging.DEBUG)


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _handler.where = nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not ENABLED:
        return
    scan(
        f"{report.nodeid} ({report.when})",
        [report.capstdout, report.capstderr] + ([str(report.longrepr)] if report.failed else []),
    )


def scan_database(engine_url: str) -> None:
    """Every audit record and checkpoint of the test database, as text."""
    if not ENABLED:
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(engine_url)
    try:
        with engine.connect() as conn:
            for table in ("audit_events", "audit_checkpoints", "audit_chain_heads"):
                rows = conn.execute(text(f"SELECT * FROM {table}"))
                scan(f"table {table}", (" ".join(str(v) for v in row) for row in rows))
    finally:
        engine.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not ENABLED:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if _hits:
        if reporter is not None:
            reporter.write_sep("=", "canary scan: customer data leaked", red=True)
            for hit in _hits[:50]:
                reporter.write_line(hit)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        reporter.write_line(f"canary scan: {_texts_scanned} captured texts and the audit tables are clean")
