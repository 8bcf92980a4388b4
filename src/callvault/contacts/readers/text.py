"""Encoding detection and line iteration with byte offsets for line-oriented formats."""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final

from callvault.contacts.readers.base import Position, SourceFileError

SAMPLE_BYTES: Final = 1 << 20
UTF8: Final = "utf-8"
GB18030: Final = "gb18030"  # superset of GBK and GB2312, which Chinese Excel writes as "ANSI"


def detect_encoding(path: Path, *, sample_bytes: int = SAMPLE_BYTES) -> tuple[str, int]:
    """Return `(encoding, bom_length)` for a text file: UTF-8 (with or without BOM) or GB18030.

    GBK text almost never decodes as UTF-8, while UTF-8 often decodes as GB18030 mojibake, so UTF-8 wins
    when at least half of the sampled non-ASCII lines are valid UTF-8; the rest are reported row by row.
    """
    with path.open("rb") as f:
        sample = f.read(sample_bytes)
    if sample.startswith(codecs.BOM_UTF8):
        return UTF8, len(codecs.BOM_UTF8)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceFileError("UTF-16 text (Excel 'Unicode text') is not supported; save as CSV UTF-8")
    lines = sample.split(b"\n")
    if len(sample) == sample_bytes:
        lines = lines[:-1]  # the last sampled line may be cut mid-character
    non_ascii = [line for line in lines if not line.isascii()]
    if not non_ascii:
        return UTF8, 0
    valid = sum(1 for line in non_ascii if _decodes(line, UTF8))
    return (UTF8 if valid * 2 >= len(non_ascii) else GB18030), 0


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


class DecodedLines:
    """Iterate decoded lines of a binary file, tracking the byte offset and line number after each line.

    Undecodable lines are decoded with replacement characters and their numbers collected in
    `bad_lines`, so the row that contains them is rejected with a reason instead of stopping the import.
    """

    def __init__(self, stream: BinaryIO, encoding: str, start: Position) -> None:
        self._stream = stream
        self._encoding = encoding
        self.offset = start.offset
        self.line = start.line
        self.bad_lines: list[int] = []

    def __iter__(self) -> Iterator[str]:
        encoding = self._encoding
        for raw in self._stream:
            self.offset += len(raw)
            self.line += 1
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError:
                self.bad_lines.append(self.line)
                yield raw.decode(encoding, "replace")

    @property
    def position(self) -> Position:
        """Position just after the last line handed out."""
        return Position(self.offset, self.line)


def undecodable_problem(bad_lines: list[int], encoding: str) -> str:
    """Reason text for a row containing bytes that are not valid in the file's encoding."""
    where = ", ".join(str(n) for n in bad_lines[:5])
    return f"bytes not valid in {encoding.upper()} (the file's detected encoding) on line {where}"


BLOCK_BYTES: Final = 1 << 20
MAX_LINE_BYTES: Final = 16 << 20


class BlockLines:
    """Decoded lines of a binary file, produced a block at a time so the consumer (csv's C reader) pulls
    them through `itertools.chain` without a Python call per line. `position(lines)` turns a count of lines
    consumed into the byte offset after them, for any line of the current block.

    Undecodable lines are decoded with replacement characters and listed in `bad_lines` (line numbers).
    """

    def __init__(self, stream: BinaryIO, encoding: str, start: Position) -> None:
        self._stream = stream
        self._encoding = encoding
        self._block_offset = start.offset  # byte offset where the current block starts
        self.block_line = start.line  # lines before the current block
        self._next_offset = start.offset
        self._next_line = start.line
        self.ends: list[int] = []  # byte offset just after each line of the current block (read-only)
        self.bad_lines: list[int] = []

    def blocks(self) -> Iterator[list[str]]:
        """Yield lists of decoded lines (line ends kept), cut at newline boundaries."""
        carry = b""
        while True:
            chunk = self._stream.read(BLOCK_BYTES)
            if not chunk:
                if carry:
                    yield self._decode(carry)
                return
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE_BYTES:
                    raise SourceFileError(
                        f"line {self._next_line + 1} is longer than {MAX_LINE_BYTES >> 20} MB; "
                        "this is not a line-oriented text file"
                    )
                carry = data
                continue
            carry = data[cut:]
            yield self._decode(data[:cut])

    def _decode(self, raw: bytes) -> list[str]:
        self._block_offset, self.block_line = self._next_offset, self._next_line
        parts = raw.split(b"\n")
        if not parts[-1]:
            parts.pop()
            raw_lines = [p + b"\n" for p in parts]
        else:
            raw_lines = [p + b"\n" for p in parts[:-1]] + [parts[-1]]
        offset = self._block_offset
        self.ends = list(itertools.accumulate(map(len, raw_lines), initial=offset))[1:]
        self._next_offset = self.ends[-1]
        self._next_line = self.block_line + len(raw_lines)
        try:
            lines = raw.decode(self._encoding).splitlines(keepends=True)
        except UnicodeDecodeError:
            lines = []
        if len(lines) == len(raw_lines):
            return lines
        # Undecodable bytes, or characters str.splitlines treats as line ends (\r, \x0b, \u2028...):
        # decode line by line so line numbers and offsets stay those of the file's newlines.
        decoded = []
        for number, line in enumerate(raw_lines, start=self.block_line + 1):
            try:
                decoded.append(line.decode(self._encoding))
            except UnicodeDecodeError:
                self.bad_lines.append(number)
                decoded.append(line.decode(self._encoding, "replace"))
        return decoded

    def position(self, lines: int) -> Position:
        """Position after the first `lines` lines of the file (the line must be in the current block)."""
        index = lines - self.block_line
        return Position(self.ends[index - 1] if index > 0 else self._block_offset, lines)
