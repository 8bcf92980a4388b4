"""Spreadsheet reader (XLSX, XLSM, XLSB, XLS, ODS) via `python-calamine`.

Formulas are never evaluated: calamine returns the value cached in the file when it was last saved.
Numbers come back as floats; whole numbers below 10^15 are exact in a double and are written without
`.0`, larger ones (18-digit ID numbers typed as numbers) already lost digits in Excel and are rendered in
scientific notation so validation rejects them as lossy. calamine holds one sheet in memory; the format
itself caps a sheet at 1,048,576 rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import python_calamine

from callvault.contacts.readers.base import (
    START,
    Position,
    SourceFileError,
    SourceRow,
    ragged_problem,
    unique_columns,
)

EXACT_FLOAT_LIMIT: Final = 10**15


def cell_text(value: object) -> str:
    """Render one calamine cell as the text a person sees, keeping numbers exact or visibly lossy."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer():
            if abs(value) < EXACT_FLOAT_LIMIT:
                return str(int(value))
            return f"{value:.14E}"  # 15 significant digits, as Excel keeps them
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if value is None:
        return ""
    return str(value)


class SpreadsheetReader:
    """Rows of one sheet (the first unless `sheet` names another); the first non-blank row is the header.

    Positions count sheet rows consumed; `line` is the sheet row number shown by Excel.
    """

    def __init__(self, path: Path, *, start: Position = START, sheet: str | None = None) -> None:
        try:
            workbook = python_calamine.CalamineWorkbook.from_path(str(path))
            self._sheet = workbook.get_sheet_by_name(sheet) if sheet is not None else workbook.get_sheet_by_index(0)
        except Exception as exc:  # calamine raises its own error types for broken or foreign files
            raise SourceFileError(f"not a readable spreadsheet: {exc}") from exc
        self._first_row = int(self._sheet.start[0]) if self._sheet.start else 0
        self.columns: list[str] = []
        self.duplicate_columns: set[str] = set()
        self._header_index = -1
        for index, row in enumerate(self._sheet.iter_rows()):
            cells = [cell_text(v) for v in row]
            if any(c.strip() for c in cells):
                while cells and not cells[-1].strip():
                    cells.pop()
                self.columns, self.duplicate_columns = unique_columns(cells)
                self._header_index = index
                break
        self._start = start

    def rows(self) -> Iterator[SourceRow]:
        """Yield data rows after the header (or after the start position); blank rows are skipped."""
        if not self.columns:
            return
        skip = max(self._start.offset, self._header_index + 1)
        columns, width = self.columns, len(self.columns)
        for index, row in enumerate(itertools.islice(self._sheet.iter_rows(), skip, None), start=skip):
            values = [cell_text(v) for v in row]
            if not any(v.strip() for v in values):
                continue
            line = self._first_row + index + 1
            problem = ragged_problem(values, width)
            if len(values) < width:
                values += [""] * (width - len(values))
            yield SourceRow(line, values, columns, Position(index + 1, line), problem)
