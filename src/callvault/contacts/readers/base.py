"""What every reader yields: rows with their starting line and the position to resume after them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import NamedTuple, Protocol


class Position(NamedTuple):
    """Where reading can resume: a byte offset (CSV, NDJSON, fixed width) or a count of rows consumed
    (XLSX, JSON array), plus the number of physical lines consumed so far (for line numbers after resume)."""

    offset: int
    line: int


START = Position(0, 0)


class SourceRow(NamedTuple):
    """One input row. `line` is where the row starts (1-based) even when quoted fields span lines;
    `values` are its cells in `columns` order (never fewer than the columns; readers pad), `columns` is
    shared by all rows of a file with a header; `after` resumes reading just past this row; `problem` is
    set when the reader could not use the row.

    Cells stay positional because building a dict per row costs more than parsing the CSV line;
    `fields` gives the dict view when wanted.
    """

    line: int
    values: Sequence[str]
    columns: Sequence[str]
    after: Position
    problem: str | None = None

    @property
    def fields(self) -> dict[str, str]:
        """The row as `{column: cell}`."""
        return dict(zip(self.columns, self.values, strict=False))

    @classmethod
    def from_fields(cls, line: int, fields: dict[str, str], after: Position, problem: str | None = None) -> SourceRow:
        """A row from a mapping of column to cell (formats without a shared header, tests)."""
        return cls(line, tuple(fields.values()), tuple(fields), after, problem)


# Build rows and positions without the Python-level NamedTuple.__new__: readers create millions of them.
new_position: Callable[[tuple[int, int]], Position] = partial(tuple.__new__, Position)
new_row: Callable[[tuple[int, Sequence[str], Sequence[str], Position, str | None]], SourceRow] = partial(
    tuple.__new__, SourceRow
)


class SourceFileError(Exception):
    """The file as a whole cannot be read (unsupported encoding, not a workbook, invalid layout)."""


class SourceReader(Protocol):
    """A streaming reader. `columns` are the keys of `fields` in file order (empty for JSON, whose
    objects bring their own keys); `duplicate_columns` names header cells that appeared more than once."""

    columns: list[str]
    duplicate_columns: set[str]

    def rows(self) -> Iterator[SourceRow]:
        """Yield rows in file order from the reader's start position, in constant memory."""
        ...


def unique_columns(header: list[str]) -> tuple[list[str], set[str]]:
    """Make header cells usable as keys: trim, name blanks `column_N`, suffix repeats `name#2`.

    Returns the keys and the set of original names that were repeated, so a mapping that relies on an
    ambiguous column can be refused instead of silently reading the wrong one.
    """
    seen: dict[str, int] = {}
    columns: list[str] = []
    duplicates: set[str] = set()
    for index, cell in enumerate(header, start=1):
        name = cell.strip().lstrip("\ufeff") or f"column_{index}"
        count = seen.get(name, 0) + 1
        seen[name] = count
        if count > 1:
            duplicates.add(name)
            name = f"{name}#{count}"
        columns.append(name)
    return columns, duplicates


def ragged_problem(values: list[str], width: int) -> str | None:
    """Why a row does not fit the header, or None. Trailing empty cells (Excel's `,,,`) are tolerated."""
    if len(values) == width:
        return None
    if len(values) > width and not any(v.strip() for v in values[width:]):
        return None
    return f"row has {len(values)} fields, the header has {width}"
