"""Hypothesis strategies for valid-looking personal data (cards, Chinese IDs, phone numbers)."""

from __future__ import annotations

from datetime import date

from hypothesis import strategies as st

# Canary customer values: tests that handle customer data use them, and the canary scan (tests/canary.py,
# CALLVAULT_CANARY=1) fails the run if one appears in a log line, captured output or the audit tables.
CANARY_PHONE = "13912345678"
CANARY_ID = "11010519491231002X"
CANARY_CARD = "6222 0212 3456 7894"  # Luhn-valid
CANARIES = (CANARY_PHONE, CANARY_ID, CANARY_CARD)


def luhn_check_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def id_check_char(body17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights, strict=True)) % 11]


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


def _group(value: str, size: int, sep: str) -> str:
    return sep.join(value[i : i + size] for i in range(0, len(value), size))


@st.composite
def cards(draw: st.DrawFn) -> tuple[str, str]:
    """(digits, as written) for a Luhn-valid 13-19 digit card number."""
    length = draw(st.integers(min_value=13, max_value=19))
    payload = draw(st.sampled_from("3456")) + draw(digits(length - 2))
    number = payload + luhn_check_digit(payload)
    sep = draw(st.sampled_from(["", " ", "-"]))
    return number, _group(number, 4, sep) if sep else number


@st.composite
def id_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(canonical, as written) for an 18-digit (checksummed) or 15-digit legacy Chinese ID."""
    region = draw(st.sampled_from("123456789")) + draw(digits(5))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2029, 12, 31)))
    seq = draw(digits(3))
    if draw(st.booleans()):
        body = region + born.strftime("%Y%m%d") + seq
        number = body + id_check_char(body)
        written = number.lower() if draw(st.booleans()) else number
        return number, written
    number = region + born.strftime("%y%m%d") + seq
    return number, number


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, str]:
    """(digits, as written) for a Chinese mobile, a landline with area code or an E.164 number."""
    kind = draw(st.sampled_from(["mobile", "landline", "e164"]))
    if kind == "mobile":
        number = "1" + draw(st.sampled_from("3456789")) + draw(digits(9))
        style = draw(st.sampled_from(["plain", "+86", "+86 ", "344 ", "344-"]))
        if style == "plain":
            return number, number
        if style.startswith("+86"):
            return number, style + number
        sep = style[-1]
        return number, f"{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"
    if kind == "landline":
        area = "0" + draw(st.sampled_from("123456789")) + draw(digits(draw(st.integers(1, 2))))
        local = draw(st.sampled_from("2345678")) + draw(digits(draw(st.integers(6, 7))))
        style = draw(st.sampled_from(["", "-", " ", "()"]))
        written = f"({area}) {local}" if style == "()" else f"{area}{style}{local}"
        return area + local, written
    number = draw(st.sampled_from("123456789")) + draw(digits(draw(st.integers(7, 14))))
    return number, "+" + number
