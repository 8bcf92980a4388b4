"""structlog JSON logging with request id, tenant and actor, and redaction of customer numbers in every line."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from callvault.security.redaction import redact_event_dict, redact_text


class _RedactingFormatter(logging.Formatter):
    """Records from libraries (uvicorn, SQLAlchemy) pass through the same redaction."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time of writing (test capture swaps it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(*, level: str = "INFO", json: bool = True) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_event_dict,
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
