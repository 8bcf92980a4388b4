"""Streaming readers for call-list files: each yields `SourceRow`s in constant memory (XLSX: one sheet)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from callvault.contacts.readers.base import (
    START,
    Position,
    SourceFileError,
    SourceReader,
    SourceRow,
)
from callvault.contacts.readers.csv_reader import CsvReader
from callvault.contacts.readers.fixed_width import FixedWidthReader, Layout, load_layout, parse_layout
from callvault.contacts.readers.json_reader import JsonArrayReader, NdjsonReader
from callvault.contacts.readers.spreadsheet import SpreadsheetReader

__all__ = [
    "START",
    "CsvReader",
    "FixedWidthReader",
    "JsonArrayReader",
    "Layout",
    "NdjsonReader",
    "Position",
    "SourceFileError",
    "SourceFormat",
    "SourceReader",
    "SourceRow",
    "SpreadsheetReader",
    "detect_format",
    "load_layout",
    "open_reader",
    "parse_layout",
]


class SourceFormat(StrEnum):
    """Input formats; `xlsx` covers every workbook calamine reads (xlsx, xlsm, xlsb, xls, ods)."""

    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"
    NDJSON = "ndjson"
    FIXED = "fixed"


_BY_SUFFIX = {
    ".csv": SourceFormat.CSV,
    ".tsv": SourceFormat.CSV,
    ".xlsx": SourceFormat.XLSX,
    ".xlsm": SourceFormat.XLSX,
    ".xlsb": SourceFormat.XLSX,
    ".xls": SourceFormat.XLSX,
    ".ods": SourceFormat.XLSX,
    ".ndjson": SourceFormat.NDJSON,
    ".jsonl": SourceFormat.NDJSON,
}
_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # zip container, OLE2 (legacy .xls)


def detect_format(path: Path) -> SourceFormat:
    """Guess the format from the content first (workbook magic, JSON's first character), then the suffix.

    Fixed-width text cannot be recognised: it needs `SourceFormat.FIXED` and a layout.
    """
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(_WORKBOOK_MAGIC):
        return SourceFormat.XLSX
    suffix = path.suffix.lower()
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first == b"[":
        return SourceFormat.JSON
    if first == b"{":
        return SourceFormat.NDJSON
    return SourceFormat.CSV


def open_reader(
    path: Path,
    fmt: SourceFormat | str = "auto",
    *,
    layout: Layout | Path | None = None,
    start: Position = START,
) -> SourceReader:
    """Open the reader for `fmt` ("auto" detects it), positioned at `start` (a row's `after`)."""
    source_format = detect_format(path) if fmt == "auto" else SourceFormat(fmt)
    if layout is not None and fmt == "auto":
        source_format = SourceFormat.FIXED
    if source_format is SourceFormat.CSV:
        return CsvReader(path, start=start)
    if source_format is SourceFormat.XLSX:
        return SpreadsheetReader(path, start=start)
    if source_format is SourceFormat.JSON:
        return JsonArrayReader(path, start=start)
    if source_format is SourceFormat.NDJSON:
        return NdjsonReader(path, start=start)
    if layout is None:
        raise SourceFileError("fixed-width files need a layout file")
    return FixedWidthReader(path, load_layout(layout) if isinstance(layout, Path) else layout, start=start)
