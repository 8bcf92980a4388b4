"""Display masking by data class: what an agent, report or API response shows by default.

Rules (JR/T 0171 style, PCI DSS 3.4.1 for cards):

========== ===================================================== ===========================
class      rule                                                  example
========== ===================================================== ===========================
PHONE      first 3 + last 4 digits, length and separators kept;   ``138****8000``
           a ``+86``/``0086`` prefix is kept and not counted      ``+86138****8000``
ID_NUMBER  first 3 + last 4 characters                            ``110***********123X``
BANK_CARD  first 6 (BIN) + last 4 digits                          ``622202******1234``
NAME       first character + one ``*`` (length is not revealed)   ``张*``
ADDRESS    region only: province + prefecture for Chinese         ``广东省深圳市****``
           addresses; otherwise the trailing comma-separated      ``****, London, UK``
           parts without digits (at most two)
EMAIL      first letter + ``***@`` + domain                       ``a***@example.com``
========== ===================================================== ===========================

Short values reveal less: at least ``min_hidden`` significant characters are always hidden, by shrinking the
visible head first, then the tail. Characters other than the significant ones and known separators are
replaced by ``*``. Maskers are total: any text gives a result, nothing raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class DataClass(StrEnum):
    """Classes of personal data with a masking rule."""

    PHONE = "phone"
    ID_NUMBER = "id_number"
    BANK_CARD = "bank_card"
    NAME = "name"
    ADDRESS = "address"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class PositionalRule:
    """Keep `head` and `tail` significant characters, hide at least `min_hidden`."""

    head: int
    tail: int
    min_hidden: int
    letters_significant: bool
    separators: frozenset[str]


PHONE_RULE: Final = PositionalRule(3, 4, 4, False, frozenset(" -().+"))
ID_RULE: Final = PositionalRule(3, 4, 8, True, frozenset(" -"))
CARD_RULE: Final = PositionalRule(6, 4, 6, False, frozenset(" -"))

MASK: Final = "*"
_PHONE_PREFIX = re.compile(r"\s*(?:\+|00)86(?:[\s-]|(?=1[3-9]))")

_PROVINCES: Final = (
    "北京",
    "天津",
    "上海",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "台湾",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
)
_PROVINCE_SUFFIX = r"(?:壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|省|市)?"
_CITY = r"(?:[\u4e00-\u9fff]{2,8}?自治州|[\u4e00-\u9fff]{1,4}?(?:市|地区|盟))"
_CN_REGION = re.compile(
    rf"\s*(?:(?P<prov>(?:{'|'.join(_PROVINCES)}){_PROVINCE_SUFFIX})(?P<city>{_CITY})?|(?P<cityonly>{_CITY}))"
)


def mask_positional(value: str, rule: PositionalRule) -> str:
    """Mask `value` keeping only the rule's head and tail significant characters in place."""

    def significant(c: str) -> bool:
        return c.isdigit() or (rule.letters_significant and c.isalpha())

    n = sum(1 for c in value if significant(c))
    hidden = min(rule.min_hidden, n)
    head = min(rule.head, max(0, n - rule.tail - hidden))
    tail = min(rule.tail, n - head - hidden)
    out: list[str] = []
    i = 0
    for c in value:
        if significant(c):
            out.append(c if i < head or i >= n - tail else MASK)
            i += 1
        else:
            out.append(c if c in rule.separators else MASK)
    return "".join(out)


def mask_phone(value: str) -> str:
    """Phone: first 3 + last 4 digits of the national number, keeping length and separators."""
    prefix = _PHONE_PREFIX.match(value)
    if prefix:
        return value[: prefix.end()] + mask_positional(value[prefix.end() :], PHONE_RULE)
    return mask_positional(value, PHONE_RULE)


def mask_id_number(value: str) -> str:
    """Identity document number: first 3 + last 4 characters (18-digit, 15-digit legacy or passport)."""
    return mask_positional(value, ID_RULE)


def mask_bank_card(value: str) -> str:
    """Card or account number: first 6 + last 4 digits at most (PCI DSS 3.4.1)."""
    return mask_positional(value, CARD_RULE)


def mask_name(value: str) -> str:
    """Name: first character and a single `*`; a one-character or non-letter start shows nothing."""
    name = value.strip()
    if not name:
        return ""
    if len(name) == 1 or not name[0].isalpha():
        return MASK
    return name[0] + MASK


def mask_address(value: str) -> str:
    """Address: region only (see module table); never any digit, street or house number."""
    m = _CN_REGION.match(value)
    if m:
        region = (m.group("prov") or "") + (m.group("city") or "") + (m.group("cityonly") or "")
        return region + MASK * 4
    parts = [p.strip() for p in value.split(",")]
    kept: list[str] = []
    for part in reversed(parts[1:]):
        if not part or any(c.isdigit() for c in part) or len(kept) == 2:
            break
        kept.append(part)
    if not kept:
        return MASK * 4
    return ", ".join([MASK * 4, *reversed(kept)])


def mask_email(value: str) -> str:
    """E-mail: first letter + `***@` + domain; anything that is not an address becomes `***`."""
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or not domain:
        return MASK * 3
    first = local[0] if local[0].isalpha() else MASK
    return f"{first}***@{domain}"


_MASKERS: Final = {
    DataClass.PHONE: mask_phone,
    DataClass.ID_NUMBER: mask_id_number,
    DataClass.BANK_CARD: mask_bank_card,
    DataClass.NAME: mask_name,
    DataClass.ADDRESS: mask_address,
    DataClass.EMAIL: mask_email,
}


def mask(value: str | None, data_class: DataClass) -> str:
    """Mask `value` by its data class; `None` (a NULL column) gives an empty string."""
    if value is None:
        return ""
    return _MASKERS[data_class](value)
