"""Per-row validation: a source row becomes an accepted `Contact` or a `Rejection` (line, column, reason).

Rejections carry a display-safe value (phones masked 3+4, ID and card numbers masked), never the full
sensitive value, so reports and logs built from them cannot leak it.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable, Sequence
from functools import partial
from itertools import compress, repeat
from typing import Final, NamedTuple

import numpy as np

from callvault.contacts.mapping import ColumnMapping
from callvault.contacts.mobile_fast_path import FAST_PATH_PROVEN, MOBILE_RE
from callvault.contacts.phones import (
    DEFAULT_REGION,
    Phone,
    PhoneRejected,
    PhoneType,
    mask_phone,
    normalise_phone,
)
from callvault.contacts.readers.base import SourceRow

MAX_NAME_CHARS: Final = 64
MAX_CUSTOM_CHARS: Final = 1000
_DIGIT_FOLD: Final = {0xFF10 + i: ord("0") + i for i in range(10)} | {0xFF38: "X", 0xFF58: "X", ord("x"): "X"}
_ID_SEPARATORS_RE: Final = re.compile(r"[\s\-]+")
_SCIENTIFIC_RE: Final = re.compile(r"[+-]?\d+(?:\.\d*)?[eE][+-]?\d+")
# ASCII digits only (`\d` alone matches any Unicode digit, which the checksum's ASCII arithmetic cannot read).
_ID18_RE: Final = re.compile(r"\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]", re.ASCII)
_ID15_RE: Final = re.compile(r"\d{8}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}", re.ASCII)
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK: Final = "10X98765432"
_ID_ZERO_WEIGHT: Final = ord("0") * sum(_ID_WEIGHTS)
_ID_WEIGHT_VECTOR: Final = np.array(_ID_WEIGHTS, dtype=np.int64)
_ID_CHECK_CODES: Final = np.frombuffer(_ID_CHECK.encode("ascii"), dtype=np.uint8)
_CARD_RE: Final = re.compile(r"\d{12,19}", re.ASCII)
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Contact(NamedTuple):
    """An accepted row: normalised values, primary phone first."""

    line: int
    phones: tuple[Phone, ...]
    name: str = ""
    id_number: str | None = None
    card_number: str | None = None
    custom: dict[str, str] | None = None

    @property
    def primary_phone(self) -> Phone:
        """The number in-file dedupe and dialling start from."""
        return self.phones[0]


# Tuples built without the Python-level NamedTuple.__new__ (millions per import).
new_contact: Callable[[tuple[int, tuple[Phone, ...], str, str | None, str | None, dict[str, str] | None]], Contact]
new_contact = partial(tuple.__new__, Contact)
new_phone: Callable[[tuple[str, PhoneType]], Phone] = partial(tuple.__new__, Phone)


class Rejection(NamedTuple):
    """Why a row was not imported. `column` is the source column ("" for the whole row); `value` is masked."""

    line: int
    column: str
    code: str
    reason: str
    value: str = ""


def mask_id(value: str) -> str:
    """Mask an ID number, keeping the last 4 characters (`**************123X`)."""
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_card(value: str) -> str:
    """Mask a card number, keeping the last 4 digits, as on a bank statement."""
    return mask_id(value)


def id_checksum_ok(id18: str) -> bool:
    """ISO 7064 MOD 11-2 check character of an 18-character resident identity number."""
    # Iterating bytes yields code points: subtract the weighted '0's instead of calling int() per digit.
    total = sum(map(operator.mul, id18.encode("ascii"), _ID_WEIGHTS)) - _ID_ZERO_WEIGHT
    return _ID_CHECK[total % 11] == id18[17]


class RowValidator:
    """Validate rows against one mapping; reusable for every row of a file."""

    def __init__(self, mapping: ColumnMapping, *, region: str = DEFAULT_REGION) -> None:
        self.mapping = mapping
        self.region = region
        self._phones = mapping.phones
        self._custom = tuple(mapping.custom.items())

    def validate(self, row: SourceRow) -> Contact | Rejection:
        """Return the accepted contact or the first reason to reject the row."""
        return self._validate(row, {})

    def _validate(self, row: SourceRow, seen: dict[str, Phone | PhoneRejected]) -> Contact | Rejection:
        """`validate`, reusing the outcomes of phone cells already normalised in this batch (`seen`)."""
        line, fields = row.line, row.fields
        if row.problem is not None:
            return Rejection(line, "", "row.unreadable", row.problem)
        phones: list[Phone] = []
        for column in self._phones:
            raw = fields.get(column)
            if not raw or raw.isspace():
                continue
            phone_or_refusal = _normalised(raw, self.region, seen)
            if isinstance(phone_or_refusal, PhoneRejected):
                return Rejection(line, column, phone_or_refusal.code, phone_or_refusal.reason, mask_phone(raw.strip()))
            phone = phone_or_refusal
            if phone not in phones:
                phones.append(phone)
        if not phones:
            if not any(v.strip() for v in fields.values()):
                return Rejection(line, "", "row.empty", "row has no values")
            return Rejection(line, self._phones[0], "phone.missing", "no phone number in the mapped columns")
        mapping = self.mapping
        name = ""
        if mapping.name is not None:
            name = fields.get(mapping.name, "")
            name = name.strip() if mapping.trim else name
            problem = None if name.isprintable() and 0 < len(name) <= MAX_NAME_CHARS else _name_problem(name)
            if problem:
                return Rejection(line, mapping.name, "name.invalid", problem, name[:MAX_NAME_CHARS])
        id_number: str | None = None
        card: str | None = None
        if mapping.id_number is not None:
            raw_id = fields.get(mapping.id_number, "")
            if raw_id.strip():
                checked = _normalise_id(raw_id)
                if isinstance(checked, Rejection):
                    return _at(checked, line, mapping.id_number)
                id_number = checked
        if mapping.card_number is not None:
            raw_card = fields.get(mapping.card_number, "")
            if raw_card.strip():
                checked = _normalise_card(raw_card)
                if isinstance(checked, Rejection):
                    return _at(checked, line, mapping.card_number)
                card = checked
        custom: dict[str, str] | None = None
        if self._custom:
            custom = {}
            for target, column in self._custom:
                value = fields.get(column, "")
                value = value.strip() if mapping.trim else value
                if len(value) > MAX_CUSTOM_CHARS:
                    return Rejection(line, column, "custom.too_long", f"longer than {MAX_CUSTOM_CHARS} characters")
                custom[target] = value
        return Contact(line, tuple(phones), name, id_number, card, custom)

    def validate_batch(self, rows: Sequence[SourceRow]) -> list[Contact | Rejection]:
        """`[self.validate(r) for r in rows]`, faster: clean rows are recognised column by column with C-level
        `map` calls (mobile pattern, ID pattern, vectorised ID checksum); any row that is not plainly clean
        goes through `validate`, so both paths give identical results (tests compare them)."""
        if not rows:
            return []
        if not FAST_PATH_PROVEN or self.region != DEFAULT_REGION:
            return [self.validate(row) for row in rows]
        # Outcomes of the phone cells that took the full path, for this batch only: a rejected cell is judged
        # once, not again when its row is redone, and junk repeated within the batch ("0", "无") once.
        seen: dict[str, Phone | PhoneRejected] = {}
        mapping = self.mapping
        cells = _column_cells(rows, mapping.source_columns())
        count = len(rows)
        everywhere = range(count)
        # Rows that are not plainly clean, found column by column with C-level map/compress over the whole
        # batch; only these few rows are then looked at one by one (`validate`).
        dirty: set[int] = set(compress(everywhere, map(operator.is_not, map(_PROBLEM_OF, rows), repeat(None))))
        phone_objects: list[list[Phone | None]] = []
        for column in self._phones:
            values = cells[column]
            matches = list(map(MOBILE_RE.fullmatch, values))
            # Every cell built as a plain mobile first, then the cells that are not one are redone.
            objects: list[Phone | None] = list(map(new_phone, zip(map(_PLUS_86, values), repeat(_MOBILE))))
            for i in compress(everywhere, map(operator.not_, matches)):
                value = values[i]
                if value:
                    found = _normalised(value, self.region, seen)
                    if isinstance(found, PhoneRejected):
                        objects[i] = None
                        dirty.add(i)
                    else:
                        objects[i] = found
                else:
                    objects[i] = None
            phone_objects.append(objects)
        names: list[str] | None = None
        if mapping.name is not None:
            names = list(map(str.strip, cells[mapping.name])) if mapping.trim else list(cells[mapping.name])
            dirty.update(compress(everywhere, map(operator.not_, map(str.isprintable, names))))
            dirty.update(compress(everywhere, map(operator.not_, map(_NAME_LENGTH_RE.fullmatch, names))))
        ids: Sequence[str] | None = None
        if mapping.id_number is not None:
            ids = cells[mapping.id_number]
            dirty.update(_ids_not_clean(ids, everywhere))
        cards: Sequence[str] | None = None
        if mapping.card_number is not None:
            cards = cells[mapping.card_number]
            misfits = map(operator.not_, map(_CARD_RE.fullmatch, cards))
            dirty.update(compress(everywhere, map(operator.and_, misfits, map(bool, cards))))
        customs: list[list[str]] = []
        for _, column in self._custom:
            values = list(map(str.strip, cells[column])) if mapping.trim else list(cells[column])
            if max(map(len, values)) > MAX_CUSTOM_CHARS:
                dirty.update(i for i, v in enumerate(values) if len(v) > MAX_CUSTOM_CHARS)
            customs.append(values)
        # A primary phone tuple per row: the present numbers in column order, repeated ones once.
        phone_tuples = list(map(tuple, map(dict.fromkeys, map(_PRESENT, zip(*phone_objects, strict=True)))))
        dirty.update(compress(everywhere, map(operator.not_, phone_tuples)))
        blank: list[None] = [None] * count
        outcomes: list[Contact | Rejection] = list(
            map(
                new_contact,
                zip(
                    list(map(_LINE_OF, rows)),
                    phone_tuples,
                    names if names is not None else [""] * count,
                    [v or None for v in ids] if ids is not None else blank,
                    [v or None for v in cards] if cards is not None else blank,
                    list(map(dict, map(partial(zip, [t for t, _ in self._custom]), zip(*customs, strict=True))))
                    if customs
                    else blank,
                    strict=True,
                ),
            )
        )
        for index in dirty:
            outcomes[index] = self._validate(rows[index], seen)
        return outcomes


_PRESENT: Final = partial(filter, None)
_PLUS_86: Final = "+86".__add__
_PROBLEM_OF: Final = operator.itemgetter(4)  # SourceRow.problem
_LINE_OF: Final = operator.itemgetter(0)  # SourceRow.line
_NAME_LENGTH_RE: Final = re.compile(rf".{{1,{MAX_NAME_CHARS}}}", re.DOTALL)  # 1..64 code points, like len()


_MOBILE: Final = PhoneType.MOBILE


def _normalised(raw: str, region: str, seen: dict[str, Phone | PhoneRejected]) -> Phone | PhoneRejected:
    """`normalise_phone(raw)`, or the refusal it raises, looked up in `seen` first and remembered there.

    A whitespace-only cell is remembered as refused (`validate` skips such cells before asking)."""
    found = seen.get(raw)
    if found is None:
        if raw.isspace():
            found = PhoneRejected("phone.empty", "phone number is empty")
        else:
            try:
                found = normalise_phone(raw, region=region)
            except PhoneRejected as refused:
                refused.__traceback__ = None  # kept for the batch: no frames held
                found = refused
        seen[raw] = found
    return found


def _column_cells(rows: Sequence[SourceRow], names: list[str]) -> dict[str, Sequence[str]]:
    """The named columns' cells, column by column ("" where a row lacks the column).

    Rows of a file with a header share one `columns` list: cells are then picked by position and
    transposed with C-level `itemgetter`/`zip`, without building a dict per row.
    """
    columns = rows[0].columns
    if all(map(operator.is_, map(_COLUMNS_OF, rows), itertools.repeat(columns))):
        position = {column: index for index, column in enumerate(columns)}
        wanted = [position.get(name) for name in names]
        if wanted and None not in wanted:
            indices = [i for i in wanted if i is not None]
            values = map(_VALUES_OF, rows)
            if len(indices) == 1:
                return {names[0]: list(map(operator.itemgetter(indices[0]), values))}
            return dict(zip(names, zip(*map(operator.itemgetter(*indices), values), strict=True), strict=True))
    records = [row.fields for row in rows]
    return {name: [record.get(name, "") for record in records] for name in names}


_COLUMNS_OF: Final = operator.attrgetter("columns")
_VALUES_OF: Final = operator.attrgetter("values")


def _ids_not_clean(ids: Sequence[str], everywhere: range) -> list[int]:
    """Rows whose ID cell is neither empty nor a well-formed 18-character ID with a valid check character;
    the MOD 11-2 checksum runs on all well-formed cells at once with numpy."""
    shaped = list(map(_ID18_RE.fullmatch, ids))
    misfits = list(compress(everywhere, map(operator.and_, map(operator.not_, shaped), map(bool, ids))))
    candidates = list(compress(everywhere, shaped))
    if candidates:
        digits = np.frombuffer("".join(compress(ids, shaped)).encode("ascii"), dtype=np.uint8)
        table = digits.reshape(len(candidates), 18)
        totals = (table[:, :17].astype(np.int64) - ord("0")) @ _ID_WEIGHT_VECTOR % 11
        failed = _ID_CHECK_CODES[totals] != table[:, 17]
        if failed.any():
            misfits += np.asarray(candidates)[failed].tolist()
    return misfits


def _at(rejection: Rejection, line: int, column: str) -> Rejection:
    return Rejection(line, column, rejection.code, rejection.reason, rejection.value)


def _name_problem(name: str) -> str | None:
    if not name:
        return "name is empty"
    if len(name) > MAX_NAME_CHARS:
        return f"name is longer than {MAX_NAME_CHARS} characters"
    if _CONTROL_RE.search(name):
        return "name contains control characters"
    return None


def _normalise_id(raw: str) -> str | Rejection:
    if _ID18_RE.fullmatch(raw) and id_checksum_ok(raw):
        return raw  # the common case, already clean
    value = _ID_SEPARATORS_RE.sub("", raw.translate(_DIGIT_FOLD))
    if _SCIENTIFIC_RE.fullmatch(value) or value.endswith(".0"):
        return Rejection(
            0, "", "id.lossy_number", "ID number was stored as a number and lost digits; export it as text"
        )
    if _ID18_RE.fullmatch(value):
        if id_checksum_ok(value):
            return value
        return Rejection(0, "", "id.checksum", "ID number check character does not match", mask_id(value))
    if _ID15_RE.fullmatch(value):
        return value
    return Rejection(0, "", "id.invalid", "not a resident identity number (18 or 15 digits)", mask_id(value))


def _normalise_card(raw: str) -> str | Rejection:
    value = _ID_SEPARATORS_RE.sub("", raw.translate(_DIGIT_FOLD))
    if _SCIENTIFIC_RE.fullmatch(value) or value.endswith(".0"):
        return Rejection(
            0,
            "",
            "card.lossy_number",
            "card number was stored as a number and lost digits; export it as text",
        )
    if _CARD_RE.fullmatch(value):
        return value
    return Rejection(0, "", "card.invalid", "card numbers have 12 to 19 digits", mask_card(value))
