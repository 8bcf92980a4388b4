"""Prompt text with ``{variable}`` and ``{variable:format}`` fields, and how values are spoken.

Formats: ``amount_zh`` (1234.5 -> 一千二百三十四元五角), ``number_zh`` (1234.5 -> 一千二百三十四点五),
``digits_zh`` (digit by digit: 6217 -> 六二一七) and ``digits`` (6217 -> "6 2 1 7", for other languages).
The renderer only looks variables up by name: no attribute or index access, unlike ``str.format``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

Scalar = str | int | float | bool | None

_DIGITS = "零一二三四五六七八九"
_POSITIONS = ((1000, "千"), (100, "百"), (10, "十"), (1, ""))
_GROUPS = ("", "万", "亿", "万亿")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _group_zh(n: int) -> str:
    """0 < n < 10000: 一千零五, 一千零五十, 三百二十."""
    out, zero = "", False
    for size, unit in _POSITIONS:
        digit = n // size % 10
        if digit == 0:
            zero = zero or bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[digit] + unit
    return out


def integer_zh(n: int) -> str:
    """A whole number read in Chinese (up to 10^16): 12 -> 十二, 10010 -> 一万零一十, 200000005 -> 二亿零五."""
    if n < 0:
        return "负" + integer_zh(-n)
    if n == 0:
        return "零"
    if n >= 10**16:
        return digits_zh(str(n))
    groups = [(n // 10_000**i) % 10_000 for i in range(len(_GROUPS))]
    out, gap = "", False
    for index in range(len(_GROUPS) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            gap = gap or bool(out)
            continue
        if out and (gap or group < 1000):
            out += "零"
        out += _group_zh(group) + _GROUPS[index]
        gap = False
    # 10..19 at the start are read 十, 十二, not 一十二; inside a number the 一 stays (一百一十).
    return out[1:] if out.startswith("一十") else out


def _decimal(value: Scalar) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def amount_zh(value: Scalar) -> str:
    """An amount of money in yuan: 1234.5 -> 一千二百三十四元五角, 12.05 -> 十二元零五分, 30 -> 三十元整."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    sign = "负" if number < 0 else ""
    cents = int(abs(number).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    out = integer_zh(yuan) + "元" if yuan or not (jiao or fen) else ""
    if jiao:
        out += _DIGITS[jiao] + "角"
    if fen:
        out += ("零" if yuan and not jiao else "") + _DIGITS[fen] + "分"
    if not (jiao or fen):
        out += "整"
    return sign + out


def number_zh(value: Scalar) -> str:
    """A number read in Chinese: 1234.5 -> 一千二百三十四点五, -3 -> 负三."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    text = format(abs(number), "f")
    whole, _, fraction = text.partition(".")
    out = integer_zh(int(whole))
    fraction = fraction.rstrip("0")
    if fraction:
        out += "点" + digits_zh(fraction)
    return ("负" if number < 0 else "") + out


def digits_zh(value: Scalar) -> str:
    """Digit by digit, as card and account numbers are read: 6217 -> 六二一七."""
    return "".join(_DIGITS[int(c)] if c.isdigit() else c for c in _text(value))


def digits_spaced(value: Scalar) -> str:
    return " ".join(c for c in _text(value) if not c.isspace())


def _text(value: Scalar) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


FORMATS: dict[str, Callable[[Scalar], str]] = {
    "": _text,
    "amount_zh": amount_zh,
    "number_zh": number_zh,
    "digits_zh": digits_zh,
    "digits": digits_spaced,
}


def fields(template: str) -> list[tuple[str, str]]:
    """The (variable, format) fields of a template; ValueError names what is wrong with it."""
    out: list[tuple[str, str]] = []
    for _literal, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if conversion is not None:
            raise ValueError(f"field {{{name}!{conversion}}}: conversions are not supported")
        if not _NAME.match(name):
            raise ValueError(f"field {{{name}}} is not a variable name")
        if (spec or "") not in FORMATS:
            raise ValueError(f"field {{{name}:{spec}}}: unknown format (known: {', '.join(sorted(FORMATS)[1:])})")
        out.append((name, spec or ""))
    return out


def render(template: str, variables: Mapping[str, Scalar]) -> str:
    """Fill a validated template; a variable without a value is spoken as nothing."""
    out: list[str] = []
    for literal, name, spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(FORMATS.get(spec or "", _text)(variables.get(name)))
    return "".join(out)


def as_text(value: Scalar) -> str:
    """The text form of a value, as comparisons and numbers sent to other systems see it."""
    return _text(value)
