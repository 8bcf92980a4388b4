"""Column mapping templates: which source column feeds which contact field.

A template is saved as JSON so an institution maps its export once and reuses it for every list::

    {"name": "客户姓名", "phones": ["手机号码", "联系电话"], "id_number": "证件号码",
     "card_number": "卡号", "custom": {"branch": "开户网点"}, "trim": true}

`phones` lists source columns in priority order: the first non-empty one is the contact's primary number,
on which in-file dedupe works. `trim` (default true) strips spaces around the name and custom fields;
phone, ID and card cells are always normalised.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

STANDARD_TARGETS: Final = frozenset({"name", "phones", "id_number", "card_number"})

# Header cells Chinese bank and insurer exports commonly use, for a first guess at a mapping.
_NAME_HEADERS: Final = ("姓名", "客户姓名", "客户名称", "名称", "name", "customer_name")
_PHONE_HEADERS: Final = (
    "手机",
    "手机号",
    "手机号码",
    "移动电话",
    "电话",
    "联系电话",
    "电话号码",
    "固定电话",
    "phone",
    "mobile",
    "tel",
)
_ID_HEADERS: Final = ("身份证", "身份证号", "身份证号码", "证件号", "证件号码", "id_number")
_CARD_HEADERS: Final = ("卡号", "银行卡号", "账号", "card_number")


class MappingError(ValueError):
    """A mapping that cannot be applied to a file's columns (missing, repeated or ambiguous)."""


@dataclass(frozen=True)
class ColumnMapping:
    """Source columns for each contact field; `custom` maps custom field name to source column."""

    phones: tuple[str, ...]
    name: str | None = None
    id_number: str | None = None
    card_number: str | None = None
    custom: dict[str, str] = field(default_factory=dict)
    trim: bool = True

    def __post_init__(self) -> None:
        if not self.phones:
            raise MappingError("a mapping needs at least one phone column")
        clash = STANDARD_TARGETS & set(self.custom)
        if clash:
            raise MappingError(f"custom field names clash with standard fields: {sorted(clash)}")
        repeated = [c for c, n in Counter(self.source_columns()).items() if n > 1]
        if repeated:
            raise MappingError(f"source columns mapped more than once: {repeated}")

    def source_columns(self) -> list[str]:
        """Every source column the mapping reads."""
        singles = [c for c in (self.name, self.id_number, self.card_number) if c]
        return [*self.phones, *singles, *self.custom.values()]

    def check_columns(self, columns: list[str], duplicate_columns: set[str]) -> None:
        """Refuse a mapping that reads a column the header lacks or holds more than once.

        Readers without a header (JSON) pass no columns: missing keys then read as empty per row.
        """
        for column in self.source_columns():
            if column in duplicate_columns:
                raise MappingError(
                    f"column {column!r} appears more than once in the header, so it is ambiguous; rename "
                    f"the copies in the file, or map {column + '#2'!r} to read the second one"
                )
            if columns and column not in columns:
                raise MappingError(f"column {column!r} is not in the file (columns: {columns})")

    def to_json(self) -> dict[str, Any]:
        """The template's JSON form."""
        return {
            "name": self.name,
            "phones": list(self.phones),
            "id_number": self.id_number,
            "card_number": self.card_number,
            "custom": dict(self.custom),
            "trim": self.trim,
        }

    @classmethod
    def from_json(cls, raw: Any) -> ColumnMapping:
        """Build a mapping from its JSON form, refusing unknown keys (a typo would silently drop a field)."""
        if not isinstance(raw, dict):
            raise MappingError("a mapping template must be a JSON object")
        unknown = set(raw) - {"name", "phones", "id_number", "card_number", "custom", "trim"}
        if unknown:
            raise MappingError(f"unknown keys in mapping template: {sorted(unknown)}")
        phones = raw.get("phones", [])
        if isinstance(phones, str):
            phones = [phones]
        custom = raw.get("custom") or {}
        if not isinstance(phones, list) or not isinstance(custom, dict):
            raise MappingError("'phones' must be a list of columns and 'custom' an object")
        return cls(
            phones=tuple(str(p) for p in phones),
            name=raw.get("name"),
            id_number=raw.get("id_number"),
            card_number=raw.get("card_number"),
            custom={str(k): str(v) for k, v in custom.items()},
            trim=bool(raw.get("trim", True)),
        )

    def save(self, path: Path) -> None:
        """Write the template as UTF-8 JSON."""
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ColumnMapping:
        """Read a template written by `save` (or by hand)."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MappingError(f"cannot read mapping template {path.name}: {exc}") from exc
        return cls.from_json(raw)

    @classmethod
    def guess(cls, columns: list[str]) -> ColumnMapping:
        """A first mapping from common header names; other columns become custom fields."""
        folded = {c.strip().lower(): c for c in columns}
        phones = tuple(folded[h] for h in _PHONE_HEADERS if h in folded)
        if not phones:
            raise MappingError(f"no phone column recognised among {columns}; provide a mapping template")
        name = next((folded[h] for h in _NAME_HEADERS if h in folded), None)
        id_number = next((folded[h] for h in _ID_HEADERS if h in folded), None)
        card = next((folded[h] for h in _CARD_HEADERS if h in folded), None)
        used = {*phones, name, id_number, card}
        custom = {c: c for c in columns if c not in used and c not in STANDARD_TARGETS}
        return cls(phones=phones, name=name, id_number=id_number, card_number=card, custom=custom)
