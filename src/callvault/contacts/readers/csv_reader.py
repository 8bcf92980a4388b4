"""Streaming CSV reader: encoding detection, delimiter sniffing, multi-line quoted fields, byte offsets."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from callvault.contacts.readers.base import (
    START,
    Position,
    SourceFileError,
    SourceRow,
    new_position,
    new_row,
    ragged_problem,
    unique_columns,
)
from callvault.contacts.readers.text import (
    SAMPLE_BYTES,
    BlockLines,
    DecodedLines,
    detect_encoding,
    undecodable_problem,
)

DELIMITERS: Final = (",", ";", "\t", "|")
SNIFF_RECORDS: Final = 50
# A field larger than this is almost always an unbalanced quote swallowing the file; csv raises instead
# of buffering the rest of a 100 MB file in memory.
MAX_FIELD_CHARS: Final = 128 * 1024
csv.field_size_limit(MAX_FIELD_CHARS)


def sniff_delimiter(path: Path, encoding: str, bom: int) -> str:
    """Pick the delimiter among `, ; TAB |` that splits the first records into the most consistent
    number (more than one) of fields; a file with a single column gets `,`."""
    with path.open("rb") as f:
        f.seek(bom)
        sample = f.read(SAMPLE_BYTES).decode(encoding, "replace").splitlines(keepends=True)[:-1] or [""]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        counts = Counter(
            len(record)
            for record, _ in zip(
                csv.reader(sample[: SNIFF_RECORDS * 4], delimiter=delimiter),
                range(SNIFF_RECORDS),
                strict=False,
            )
            if record
        )
        if not counts:
            continue
        width, agreeing = counts.most_common(1)[0]
        score = (agreeing, width) if width > 1 else (0, 0)
        if score > best_score:
            best, best_score = delimiter, score
    return best


class CsvReader:
    """Rows of a delimited text file; the first non-blank record is the header."""

    def __init__(
        self,
        path: Path,
        *,
        start: Position = START,
        encoding: str | None = None,
        delimiter: str | None = None,
    ) -> None:
        self.path = path
        detected, self._bom = detect_encoding(path)
        self.encoding = encoding or detected
        self.delimiter = delimiter or sniff_delimiter(path, self.encoding, self._bom)
        self.columns, self.duplicate_columns, self._data_start = self._read_header()
        self._start = start if start.offset > self._data_start.offset else self._data_start

    def _read_header(self) -> tuple[list[str], set[str], Position]:
        with self.path.open("rb") as f:
            f.seek(self._bom)
            lines = DecodedLines(f, self.encoding, Position(self._bom, 0))
            for record in csv.reader(lines, delimiter=self.delimiter):
                if record:
                    if lines.bad_lines:
                        raise SourceFileError(undecodable_problem(lines.bad_lines, self.encoding) + " (header)")
                    columns, duplicates = unique_columns(record)
                    return columns, duplicates, lines.position
        return [], set(), Position(self._bom, 0)

    def rows(self) -> Iterator[SourceRow]:
        """Yield data rows from the start position; blank lines are skipped, ragged rows carry a problem."""
        if not self.columns:
            return
        width = len(self.columns)
        columns = self.columns
        with self.path.open("rb") as f:
            f.seek(self._start.offset)
            lines = BlockLines(f, self.encoding, self._start)
            bad = lines.bad_lines
            reader = csv.reader(itertools.chain.from_iterable(lines.blocks()), delimiter=self.delimiter)
            before = self._start.line  # csv counts lines from 0 at the start position
            consumed = before
            problem: str | None
            while True:
                first_line = consumed + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    consumed = before + reader.line_num
                    _take_until(bad, consumed)
                    problem = f"unreadable CSV record: {exc}"
                    yield SourceRow(first_line, [""] * width, columns, lines.position(consumed), problem)
                    continue
                consumed = before + reader.line_num
                # Bad lines are listed when their block is decoded; those up to `consumed` are this record's.
                undecodable = _take_until(bad, consumed) if bad and bad[0] <= consumed else None
                if len(values) == width and undecodable is None and any(values):
                    # The common case, inlined: the line is in the current block, so its end offset is there.
                    after = new_position((lines.ends[consumed - lines.block_line - 1], consumed))
                    yield new_row((first_line, values, columns, after, None))
                    continue
                if not values or not "".join(values).strip():
                    continue  # blank records are not rows
                if undecodable:
                    problem = undecodable_problem(undecodable, self.encoding)
                else:
                    problem = ragged_problem(values, width)
                if len(values) < width:
                    values += [""] * (width - len(values))
                yield SourceRow(first_line, values, columns, lines.position(consumed), problem)


def _take_until(bad_lines: list[int], last: int) -> list[int]:
    """Remove and return the leading line numbers up to `last` (the list is in file order)."""
    count = 0
    while count < len(bad_lines) and bad_lines[count] <= last:
        count += 1
    taken = bad_lines[:count]
    del bad_lines[:count]
    return taken
