"""Fixed-width text with a layout file.

Layout (JSON, or YAML when the file ends in .yaml/.yml)::

    {
      "encoding": "gb18030",        # optional; detected like CSV when absent
      "unit": "bytes",              # "bytes" (default: host-system layouts count GBK bytes) or "chars"
      "skip_lines": 1,              # optional header lines to skip
      "fields": [
        {"name": "姓名", "start": 1, "width": 20},   # start is 1-based, as in record layout documents
        {"name": "手机", "start": 21, "width": 11}
      ]
    }

Values are trimmed of spaces. A line shorter than the layout is padded (trailing spaces are often stripped);
a line with non-blank text beyond the last field is reported, since the layout probably does not match.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from callvault.contacts.readers.base import START, Position, SourceFileError, SourceRow
from callvault.contacts.readers.text import detect_encoding


@dataclass(frozen=True)
class LayoutField:
    """One column of a fixed-width record: 0-based `begin` and exclusive `end` in layout units."""

    name: str
    begin: int
    end: int


@dataclass(frozen=True)
class Layout:
    """A fixed-width record layout."""

    fields: tuple[LayoutField, ...]
    unit: Literal["bytes", "chars"] = "bytes"
    encoding: str | None = None
    skip_lines: int = 0

    @property
    def record_width(self) -> int:
        """Units covered by the fields; text beyond it must be blank."""
        return max(f.end for f in self.fields)


def load_layout(path: Path) -> Layout:
    """Read and check a layout file (JSON or YAML); raise `SourceFileError` with the reason if invalid."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw: Any = yaml.safe_load(text)
        else:
            raw = json.loads(text)
    except Exception as exc:  # both parsers have their own error classes
        raise SourceFileError(f"layout file is not valid JSON/YAML: {exc}") from exc
    return parse_layout(raw)


def parse_layout(raw: Any) -> Layout:
    """Build a `Layout` from its decoded JSON/YAML form, refusing overlaps and missing names."""
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list) or not raw["fields"]:
        raise SourceFileError("layout must be an object with a non-empty 'fields' list")
    unit = raw.get("unit", "bytes")
    if unit not in ("bytes", "chars"):
        raise SourceFileError("layout 'unit' must be 'bytes' or 'chars'")
    fields: list[LayoutField] = []
    for item in raw["fields"]:
        try:
            name, start, width = str(item["name"]).strip(), int(item["start"]), int(item["width"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceFileError(f"layout field needs name, start and width: {item!r}") from exc
        if not name or start < 1 or width < 1:
            raise SourceFileError(f"layout field {name!r}: start must be >= 1 and width >= 1")
        fields.append(LayoutField(name, start - 1, start - 1 + width))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise SourceFileError("layout field names must be unique")
    ordered = sorted(fields, key=lambda f: f.begin)
    for left, right in itertools.pairwise(ordered):
        if right.begin < left.end:
            raise SourceFileError(f"layout fields {left.name!r} and {right.name!r} overlap")
    return Layout(tuple(fields), unit, raw.get("encoding"), int(raw.get("skip_lines", 0)))


class FixedWidthReader:
    """Rows of a fixed-width file; positions are byte offsets."""

    def __init__(self, path: Path, layout: Layout, *, start: Position = START) -> None:
        self.path = path
        self.layout = layout
        detected, self._bom = detect_encoding(path)
        self.encoding = layout.encoding or detected
        self.columns = [f.name for f in layout.fields]
        self.duplicate_columns: set[str] = set()
        self._start = start

    def rows(self) -> Iterator[SourceRow]:
        """Yield one row per non-blank line after `skip_lines`."""
        by_bytes = self.layout.unit == "bytes"
        width = self.layout.record_width
        offset, line = (self._start.offset, self._start.line) if self._start.offset else (self._bom, 0)
        with self.path.open("rb") as f:
            f.seek(offset)
            for raw in f:
                offset += len(raw)
                line += 1
                if line <= self.layout.skip_lines:
                    continue
                record = raw.rstrip(b"\r\n")
                if not record.strip():
                    continue
                fields, problem = self._split_bytes(record, width) if by_bytes else self._split_chars(record, width)
                values = [fields.get(column, "") for column in self.columns]
                yield SourceRow(line, values, self.columns, Position(offset, line), problem)

    def _split_bytes(self, record: bytes, width: int) -> tuple[dict[str, str], str | None]:
        fields: dict[str, str] = {}
        for field in self.layout.fields:
            try:
                fields[field.name] = record[field.begin : field.end].decode(self.encoding).strip()
            except UnicodeDecodeError:
                return fields, (
                    f"field {field.name!r} is not valid {self.encoding.upper()}: a character is cut by the "
                    "layout or the encoding is wrong"
                )
        if record[width:].strip():
            return fields, f"line is longer than the layout ({len(record)} > {width} bytes)"
        return fields, None

    def _split_chars(self, record: bytes, width: int) -> tuple[dict[str, str], str | None]:
        try:
            text = record.decode(self.encoding)
        except UnicodeDecodeError:
            return {}, f"line is not valid {self.encoding.upper()}"
        fields = {f.name: text[f.begin : f.end].strip() for f in self.layout.fields}
        if text[width:].strip():
            return fields, f"line is longer than the layout ({len(text)} > {width} characters)"
        return fields, None
