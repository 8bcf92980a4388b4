"""Phone-number normalisation for call lists: E.164 with a contact-center type.

Numbers arrive as institutions type or export them: full-width digits, spaces, dashes, parentheses,
`+86`/`0086` prefixes, Excel artefacts (`13800138000.0`, `1.38E+10`). `normalise_phone` turns one cell into a
`Phone` or raises `PhoneRejected` with a stable reason code. Emergency and special numbers are refused: an
outbound campaign must never dial them.

Speed: `phonenumbers.parse` plus `number_type` costs about 40 µs, too slow for millions of rows. Chinese
mobiles take a fast path (`mobile_fast_path`): one match of the `phonenumbers` mobile pattern, proven
equivalent to `number_type` from the metadata at import; tests also check it against `phonenumbers`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final, NamedTuple

import phonenumbers
from phonenumbers import PhoneNumberType, shortnumberinfo

from callvault.contacts.mobile_fast_path import FAST_PATH_PROVEN, MOBILE_RE, PREFIXED_MOBILE_RE


class PhoneType(StrEnum):
    """What kind of line a normalised number reaches."""

    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    TOLL_FREE_400 = "toll_free_400"
    TOLL_FREE_800 = "toll_free_800"
    SHARED_COST = "shared_cost"
    SERVICE_SHORT_CODE = "service_short_code"
    OTHER = "other"


class Phone(NamedTuple):
    """A normalised number (a tuple: cheap to build millions of times). Service short codes (95588) keep
    the E.164 form `+8695588`; they are dialled domestically."""

    e164: str
    type: PhoneType


class PhoneRejected(ValueError):
    """A cell that is not a dialable number; `code` is stable, `reason` is for people."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


DEFAULT_REGION: Final = "CN"

# Emergency and special numbers in mainland China, plus the international ones people type (112, 911, 999).
EMERGENCY_NUMBERS: Final = frozenset(
    {"110", "112", "119", "120", "122", "999", "911", "12110", "12119", "12120", "12395"}
)
_EMERGENCY_PATTERN: Final = "|".join(sorted(EMERGENCY_NUMBERS, key=len, reverse=True))
# Variants with a country code and/or an area code: "+86 110", "010-110", "0755 119", "+86 10 120".
_AREA_CODE: Final = r"(?:10|2\d|[3-9]\d\d)"
_EMERGENCY_RE: Final = re.compile(rf"(?:(?:\+|00)?86(?:0?{_AREA_CODE})?|0{_AREA_CODE})?(?:{_EMERGENCY_PATTERN})")

_FULL_WIDTH: Final = {0xFF10 + i: ord("0") + i for i in range(10)} | {
    0xFF0B: "+",  # full-width plus
    0xFF0D: "-",  # full-width hyphen
    0xFF08: "(",  # full-width parentheses
    0xFF09: ")",
    0x3000: " ",  # ideographic space
    0x00A0: " ",
    0x2010: "-",
    0x2011: "-",
    0x2012: "-",
    0x2013: "-",
    0x2014: "-",
    0xFF0E: ".",
}
_EXCEL_ERROR_RE: Final = re.compile(r"#(?:DIV/0!|N/A|VALUE!|REF!|NAME\?|NUM!|NULL!|SPILL!|CALC!)")
_SEPARATORS_RE: Final = re.compile(r"[\s\-().]+")
_SCIENTIFIC_RE: Final = re.compile(r"[+-]?(\d+)(?:\.(\d*))?[eE]\+?(\d+)")
_TRAILING_ZERO_DECIMAL_RE: Final = re.compile(r"(\+?\d+)\.0+")
_EXTENSION_RE: Final = re.compile(r"(?:转|分机|ext\.?|x|#|,|;)", re.IGNORECASE)
_DIALABLE_RE: Final = re.compile(r"\+?\d{1,20}")
# "+86 138 0013 8000", "138-0013-8000": ASCII digits, spaces and dashes only, so `clean_phone_text` would only
# drop the separators (nothing else in it can apply); the digits then take the mobile fast path as they would
# after cleaning. Anything else, or digits that are not a mobile, goes the whole way.
SPELLED_MOBILE_RE: Final = re.compile(r"(?:\+86 ?)?(\d{3})[ -](\d{4})[ -](\d{4})", re.ASCII)


def clean_phone_text(raw: str) -> str:
    """Undo typing and spreadsheet artefacts; the result is `+?digits` or raises `PhoneRejected`."""
    text = raw.translate(_FULL_WIDTH).strip()
    if text.startswith("'"):  # Excel "store as text" marker
        text = text[1:].strip()
    if text.lower().startswith("tel:"):
        text = text[4:].strip()
    if not text:
        raise PhoneRejected("phone.empty", "phone number is empty")
    if _EXCEL_ERROR_RE.fullmatch(text):
        raise PhoneRejected("phone.excel_error", f"the spreadsheet formula for this cell failed ({text})")
    scientific = _SCIENTIFIC_RE.fullmatch(text)
    if scientific:
        return _from_scientific(text, scientific)
    decimal = _TRAILING_ZERO_DECIMAL_RE.fullmatch(text)
    if decimal:  # "13800138000.0": a number that went through a float, still exact
        return decimal.group(1)
    if _EXTENSION_RE.search(text):
        raise PhoneRejected("phone.extension", "extensions and multiple numbers in one cell are not supported")
    text = _SEPARATORS_RE.sub("", text)
    if not _DIALABLE_RE.fullmatch(text):
        raise PhoneRejected("phone.not_digits", "phone number contains characters other than digits")
    return text


def _from_scientific(text: str, match: re.Match[str]) -> str:
    whole, fraction, exponent = match.group(1), match.group(2) or "", int(match.group(3))
    # Exact only if the mantissa spells every digit: "1.3800138000E+10" yes, "1.38E+10" no (Excel display
    # formats round the mantissa, so the missing digits are unknown, not zeros).
    if text.startswith("-") or len(fraction) != exponent:
        raise PhoneRejected(
            "phone.scientific_notation",
            "number in scientific notation has lost digits; export the column as text",
        )
    return whole + fraction


def normalise_phone(raw: str, *, region: str = DEFAULT_REGION) -> Phone:
    """Normalise one cell to E.164 and type it, or raise `PhoneRejected` (empty, lossy, emergency...)."""
    fast = region == DEFAULT_REGION and FAST_PATH_PROVEN
    if fast:
        if len(raw) == 11 and MOBILE_RE.fullmatch(raw):
            return Phone("+86" + raw, PhoneType.MOBILE)
        spelled = SPELLED_MOBILE_RE.fullmatch(raw)
        if spelled:
            digits = "".join(spelled.groups())
            if MOBILE_RE.fullmatch(digits):
                return Phone("+86" + digits, PhoneType.MOBILE)
    text = clean_phone_text(raw)
    if fast:
        if len(text) == 11 and MOBILE_RE.fullmatch(text):
            return Phone("+86" + text, PhoneType.MOBILE)
        prefixed = PREFIXED_MOBILE_RE.fullmatch(text)
        if prefixed:
            return Phone("+86" + prefixed.group(1), PhoneType.MOBILE)
    if _EMERGENCY_RE.fullmatch(text) or phonenumbers.is_emergency_number(text, region):
        raise PhoneRejected("phone.emergency", "emergency or special number must never be dialled")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneRejected("phone.unparseable", f"not a phone number ({exc._msg})") from exc
    if number.extension:
        raise PhoneRejected("phone.extension", "extensions are not supported")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(number):
        return Phone(e164, _phone_type(number))
    return _short_code(number, e164)


def _phone_type(number: phonenumbers.PhoneNumber) -> PhoneType:
    kind = phonenumbers.number_type(number)
    national = str(number.national_number)
    if kind == PhoneNumberType.MOBILE:
        return PhoneType.MOBILE
    if kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return PhoneType.FIXED_LINE
    if number.country_code == 86 and national.startswith("400"):
        return PhoneType.TOLL_FREE_400
    if kind == PhoneNumberType.TOLL_FREE:
        return PhoneType.TOLL_FREE_800
    if kind == PhoneNumberType.SHARED_COST:
        return PhoneType.SHARED_COST
    return PhoneType.OTHER


def _short_code(number: phonenumbers.PhoneNumber, e164: str) -> Phone:
    national = str(number.national_number)
    if number.country_code == 86 and shortnumberinfo.is_valid_short_number_for_region(number, "CN"):
        # Five-digit and longer service lines (95588, 10086, 12345) are callable; three- and four-digit
        # special services (114 directory, 121 weather) are not campaign destinations.
        if len(national) >= 5:
            return Phone(e164, PhoneType.SERVICE_SHORT_CODE)
        raise PhoneRejected("phone.special_service", "special service number is not a campaign destination")
    if number.country_code == 86 and len(national) in (10, 12) and national[:2] in _MOBILE_LEADS:
        raise PhoneRejected("phone.invalid", "mobile numbers have 11 digits")
    raise PhoneRejected("phone.invalid", "not a valid phone number (fixed lines need their area code)")


_MOBILE_LEADS: Final = frozenset({"13", "14", "15", "16", "17", "18", "19"})


def mask_phone(value: str) -> str:
    """Mask for reports and logs, keeping 3 leading and 4 trailing characters: `138****8000`."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def dedupe_key(e164: str) -> int:
    """Exact 64-bit key of an E.164 number: at most 15 digits, so the digits fit in an int64 losslessly."""
    return int(e164[1:])
