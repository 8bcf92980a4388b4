"""Streaming error report: one CSV line per row not imported, readable by Chinese Excel.

UTF-8 with BOM (Excel otherwise assumes GBK), values already masked by validation, and cells that Excel
would run as formulas (starting with = + - @) prefixed with a quote.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from pathlib import Path
from typing import BinaryIO, Final

from callvault.contacts.validate import Rejection

HEADER: Final = ("行号 line", "列 column", "代码 code", "原因 reason", "值 value")
_FORMULA_LEAD: Final = ("=", "+", "-", "@", "\t", "\r")


def excel_safe(text: str) -> str:
    """Defuse CSV formula injection: Excel must show the cell, not evaluate it."""
    return "'" + text if text.startswith(_FORMULA_LEAD) else text


class ErrorReport:
    """Append-only report writer that can resume at a byte offset recorded in a checkpoint."""

    def __init__(self, path: Path, *, resume_offset: int | None = None, durable: bool = True) -> None:
        self.path = path
        self._durable = durable
        self._file: BinaryIO
        if resume_offset is not None and path.exists():
            self._file = path.open("r+b")
            self._file.truncate(resume_offset)  # drop lines written after the checkpoint
            self._file.seek(resume_offset)
        else:
            self._file = path.open("wb")
            self._file.write(codecs.BOM_UTF8)
            self._write_row(HEADER)
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")

    def _write_row(self, row: tuple[str, ...]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerow(row)
        self._file.write(text.getvalue().encode("utf-8"))

    def add(self, rejection: Rejection) -> None:
        """Queue one line; it reaches the file at the next `flush`."""
        self._csv.writerow(
            (
                rejection.line,
                excel_safe(rejection.column),
                rejection.code,
                rejection.reason,
                excel_safe(rejection.value),
            )
        )

    def flush(self) -> int:
        """Write queued lines durably and return the report's size, to record in a checkpoint."""
        data = self._buffer.getvalue()
        if data:
            self._file.write(data.encode("utf-8"))
            self._buffer.seek(0)
            self._buffer.truncate()
        self._file.flush()
        if self._durable:
            os.fsync(self._file.fileno())  # a checkpoint must never point past what survived a crash
        return self._file.tell()

    def close(self) -> None:
        """Flush and close the file."""
        self.flush()
        self._file.close()
