"""JSON readers: an array of objects (parsed incrementally, never loaded whole) and NDJSON.

Numbers are kept as their source text (`parse_int`/`parse_float=str`) so 13800138000 never passes through a
float and `1.38e10` stays visibly lossy for validation to refuse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from callvault.contacts.readers.base import START, Position, SourceRow
from callvault.contacts.readers.text import DecodedLines, detect_encoding, undecodable_problem

CHUNK_CHARS: Final = 1 << 20
# An element larger than this is treated as malformed rather than buffered without bound.
MAX_ELEMENT_CHARS: Final = 16 << 20
_WHITESPACE: Final = " \t\r\n"

_decoder = json.JSONDecoder(parse_int=str, parse_float=str)


def flatten_object(value: Any) -> tuple[dict[str, str], str | None]:
    """Turn one decoded JSON element into text fields, or explain why it cannot be a row."""
    if not isinstance(value, dict):
        return {}, f"element is a JSON {type(value).__name__}, not an object"
    fields: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, str):
            fields[key] = item
        elif item is None:
            fields[key] = ""
        elif isinstance(item, bool):
            fields[key] = "true" if item else "false"
        else:
            return {}, f"field {key!r} holds a nested {type(item).__name__}"
    return fields, None


class NdjsonReader:
    """One JSON object per line; positions are byte offsets. Blank lines are skipped."""

    columns: list[str]
    duplicate_columns: set[str]

    def __init__(self, path: Path, *, start: Position = START) -> None:
        self.path = path
        self.encoding, self._bom = detect_encoding(path)
        self.columns, self.duplicate_columns = [], set()
        self._start = start if start.offset else Position(self._bom, 0)

    def rows(self) -> Iterator[SourceRow]:
        """Yield one row per non-blank line; malformed lines carry a problem."""
        with self.path.open("rb") as f:
            f.seek(self._start.offset)
            lines = DecodedLines(f, self.encoding, self._start)
            for text in lines:
                if not text.strip():
                    lines.bad_lines.clear()
                    continue
                if lines.bad_lines:
                    problem: str | None = undecodable_problem(lines.bad_lines, self.encoding)
                    lines.bad_lines.clear()
                    yield SourceRow.from_fields(lines.line, {}, lines.position, problem)
                    continue
                try:
                    fields, problem = flatten_object(_decoder.decode(text))
                except json.JSONDecodeError as exc:
                    fields, problem = {}, f"malformed JSON: {exc.msg} at column {exc.colno}"
                yield SourceRow.from_fields(lines.line, fields, lines.position, problem)


class JsonArrayReader:
    """A top-level JSON array of objects, decoded element by element from 1 MB chunks.

    Positions count elements consumed (resuming re-scans the text before them). A row's `line` is its element
    number (1-based): a minified array is one text line, so text lines would not tell rows apart. A syntax
    error that makes the rest of the array unreadable becomes one final row with a problem naming its line.
    """

    columns: list[str]
    duplicate_columns: set[str]

    def __init__(self, path: Path, *, start: Position = START, chunk_chars: int = CHUNK_CHARS) -> None:
        self.path = path
        self.encoding, _ = detect_encoding(path)
        self.columns, self.duplicate_columns = [], set()
        self._start = start
        self._chunk_chars = chunk_chars

    def rows(self) -> Iterator[SourceRow]:
        """Yield one row per array element after the start position."""
        with self.path.open(encoding="utf-8-sig" if self.encoding == "utf-8" else self.encoding) as f:
            yield from _ArrayScanner(f.read, self._start.offset, self._chunk_chars).scan()


class _ArrayScanner:
    def __init__(self, read: Any, skip: int, chunk_chars: int) -> None:
        self._read = read
        self._chunk_chars = chunk_chars
        self._skip = skip
        self._buf = ""
        self._pos = 0
        self._line = 1  # line of the character at _pos
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._read(self._chunk_chars)
        if not chunk:
            self._eof = True
            return False
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        return True

    def _skip_whitespace(self) -> str:
        """Advance past whitespace and return the next character ('' at end of file)."""
        while True:
            buf, pos = self._buf, self._pos
            while pos < len(buf) and buf[pos] in _WHITESPACE:
                if buf[pos] == "\n":
                    self._line += 1
                pos += 1
            self._pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self._fill():
                return ""

    def _fatal(self, index: int, message: str) -> SourceRow:
        problem = f"{message} (text line {self._line}); the rest was not read"
        return SourceRow.from_fields(index + 1, {}, Position(index + 1, self._line), problem)

    def scan(self) -> Iterator[SourceRow]:
        if self._skip_whitespace() != "[":
            if self._buf.strip():
                yield self._fatal(0, "JSON file must be an array of objects (use NDJSON for one per line)")
            return
        self._pos += 1
        index = 0
        if self._skip_whitespace() == "]":
            return
        while True:
            try:
                value, end = self._decode()
            except json.JSONDecodeError as exc:
                yield self._fatal(index, f"malformed JSON: {exc.msg}")
                return
            self._line += self._buf.count("\n", self._pos, end)
            self._pos = end
            index += 1
            if index > self._skip:
                fields, problem = flatten_object(value)
                yield SourceRow.from_fields(index, fields, Position(index, self._line), problem)
            separator = self._skip_whitespace()
            if separator == "]":
                return
            if separator != ",":
                yield self._fatal(index, "malformed JSON: expected ',' or ']' between elements")
                return
            self._pos += 1
            self._skip_whitespace()

    def _decode(self) -> tuple[Any, int]:
        while True:
            try:
                value, end = _decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError:
                if len(self._buf) - self._pos > MAX_ELEMENT_CHARS or not self._fill():
                    raise
                continue
            if end == len(self._buf) and not self._eof and self._fill():
                continue  # a number could continue in the next chunk: decode again with more text
            return value, end
