"""Log redaction: hides phone, Chinese ID and card numbers in free text and structlog events.

How it finds values: every run of digits joined by at most one space, dash or closing parenthesis is split
into its digit groups; each contiguous sequence of groups is checked as an 18- or 15-digit ID number, a
Chinese mobile (optionally 86-prefixed), a Luhn-valid 13-19 digit card, an E.164 / 00-prefixed international
number or a landline with area code. By default (`RedactionStyle.LABEL`, for logs) each value becomes
``[phone]``, ``[id]`` or ``[card]``. `RedactionStyle.MASK` keeps the length and replaces digits by ``*``
except the few a rule shows (ID and phone: first 3 + last 4; card: last 4 only); a digit covered by two
matches stays visible only if both rules show it. Redaction errs on the side of masking: a long numeric
id that happens to be Luhn-valid is masked too. Not checked: UUIDs, and digits with ASCII letters on both
sides (inside hex digests or serial numbers), so ids and hashes in logs stay intact.
"""

from __future__ import annotations

import re
import sys
import traceback
import uuid
from collections.abc import Callable, MutableMapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, Final

__all__ = ["REDACTED", "RedactionStyle", "redact_event_dict", "redact_text", "redact_value"]

REDACTED: Final = "[REDACTED]"
_MIN_DIGITS: Final = 8  # the shortest value any rule matches (E.164 with a short national number)
_MAX_DIGITS: Final = 19  # the longest (a card number)
_MAX_DEPTH: Final = 16

_DIGIT = "0-9\uff10-\uff19"  # ASCII and full-width digits (common in Chinese text)
# A run: at least _MIN_DIGITS digits, joined by at most one space, dash or ") " (shorter runs never match).
_RUN = re.compile(rf"[+(]?[{_DIGIT}](?:(?:[ \-]|\) ?)?[{_DIGIT}]){{{_MIN_DIGITS - 1},}}(?:[Xx](?![A-Za-z0-9]))?")
_GROUP = re.compile(r"[0-9]+[Xx]?")
# Tokens that are never personal data and are kept whole: UUIDs (request, tenant and object ids) and hex tokens
# of 16+ characters with at least one letter (SHA-256 chain hashes, checksums, key ids), which can hold a digit run
# that reads like a phone ("sha256:15919381757b...").
_KEPT_TOKEN = re.compile(
    r"(?<![0-9A-Za-z-])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Za-z-])"
    r"|(?<![0-9A-Za-z])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{16,}(?![0-9A-Za-z])"
)
# A digit run with ASCII letters right before and after it is part of a token (hex digest, serial), not a
# number on its own; its outer groups are skipped. Runs next to CJK text ("手机13812348000") are checked.
_ASCII_LETTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_QUICK = re.compile(rf"[{_DIGIT}]")
_TO_ASCII = str.maketrans("\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19", "0123456789")

_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_ID18 = re.compile(rf"[1-9]\d{{5}}(?:18|19|20)\d{{2}}{_DATE}\d{{3}}[\dXx]")
_ID15 = re.compile(rf"[1-9]\d{{7}}{_DATE}\d{{3}}")
_MOBILE = re.compile(r"(?:86)?1[3-9]\d{9}")
_INTL = re.compile(r"00[1-9]\d{7,14}")
_LANDLINE = re.compile(r"0[1-9]\d{8,10}")

_SENSITIVE_KEY = re.compile(
    r"(?:^|_)(?:password|passwd|passphrase|secret|token|cvv2?|cvc2?|pin|pan|otp|totp|api_?key|"
    r"authorization|cookie|private_?key|master_?key)$",
    re.IGNORECASE,
)

_ID, _CARD, _PHONE = "[id]", "[card]", "[phone]"
_RANK: Final = {_ID: 3, _CARD: 2, _PHONE: 1, "": 0}  # when matches overlap, the most sensitive label wins


class RedactionStyle(StrEnum):
    """How a found value is rewritten."""

    LABEL = "label"
    MASK = "mask"


# (head, tail) visible digits per rule in MASK style.
_ID_SHOW = (3, 4)
_CARD_SHOW = (0, 4)


def _phone_show(n: int) -> tuple[int, int]:
    hidden = max(4, n - 7)
    head = min(3, max(0, n - 4 - hidden))
    return head, min(4, n - head - hidden)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _rules_for(candidate: str) -> tuple[str, int, int] | None:
    """(label, head, tail) if `candidate` (digits, maybe a trailing X) is sensitive, else None."""
    n = len(candidate)
    if n in (15, 18) and (_ID18.fullmatch(candidate) or _ID15.fullmatch(candidate)):
        return (_ID, *_ID_SHOW)
    if not candidate[-1].isdigit():
        return None
    if n in (11, 13) and _MOBILE.fullmatch(candidate):
        return (_PHONE, 5, 4) if n == 13 else (_PHONE, 3, 4)
    if 13 <= n <= 19 and _luhn_ok(candidate):
        return (_CARD, *_CARD_SHOW)
    if _INTL.fullmatch(candidate) or _LANDLINE.fullmatch(candidate):
        return (_PHONE, *_phone_show(n))
    return None


def _redact_run(run: str, glued: bool, style: RedactionStyle) -> str:
    ascii_run = run.translate(_TO_ASCII)
    groups = [m.span() for m in _GROUP.finditer(ascii_run)]
    sig = "".join([ascii_run[a:b] for a, b in groups]).upper()
    if len(sig) < _MIN_DIGITS:
        return run
    bounds = [0]
    for a, b in groups:
        bounds.append(bounds[-1] + b - a)
    group_starts = bounds[:-1]
    n_sig = bounds[-1]
    show: list[bool | None] = [None] * n_sig
    labels: list[str | None] = [None] * n_sig
    found = False

    def apply(start: int, end: int, label: str, head: int, tail: int) -> None:
        for k in range(start, end):
            visible = k - start < head or k >= end - tail
            show[k] = visible if show[k] is None else (show[k] and visible)
            if labels[k] is None or _RANK[label] > _RANK[labels[k] or ""]:
                labels[k] = label

    last = len(group_starts)
    for gi in range(1 if glued else 0, last):
        start = bounds[gi]
        for gj in range(gi + 1, len(bounds)):
            if gj == last and glued:
                break
            end = bounds[gj]
            if end - start > _MAX_DIGITS:
                break
            if end - start < _MIN_DIGITS:
                continue
            candidate = sig[start:end]
            rule = _rules_for(candidate)
            if rule is None and candidate.endswith("X") and end - start > _MIN_DIGITS:
                end -= 1
                rule = _rules_for(candidate[:-1])
            if rule is not None:
                found = True
                apply(start, end, *rule)
    if run.startswith("+") and not glued:
        # E.164: the longest leading group sequence of 8-15 digits is the number.
        e164 = max((b for b in bounds if _MIN_DIGITS <= b <= 15), default=0)
        if e164:
            found = True
            apply(0, e164, _PHONE, *_phone_show(e164))
    if not found:
        return run
    chars = [pos for a, b in groups for pos in range(a, b)]  # position in `run` of each significant char
    if style is RedactionStyle.LABEL:
        return _labelled(run, chars, labels)
    out = list(run)
    for k, pos in enumerate(chars):
        if show[k] is False:
            out[pos] = "*"
    return "".join(out)


def _labelled(run: str, chars: list[int], labels: list[str | None]) -> str:
    """Replace each covered stretch of the run (digits and the separators between them) by its label."""
    at: list[str | None] = [None] * len(run)
    for k, pos in enumerate(chars):
        at[pos] = labels[k]
        if k and labels[k] is not None and labels[k] == labels[k - 1]:
            for p in range(chars[k - 1] + 1, pos):
                at[p] = labels[k]
    if chars[0] > 0 and (run[0] == "+" or ")" in run):  # "+86 ..." or "(010) ..." belongs to the number
        at[0] = labels[0]
    out: list[str] = []
    previous: str | None = None
    for ch, label in zip(run, at, strict=True):
        if label is None:
            out.append(ch)
        elif label != previous:
            out.append(label)
        previous = label
    return "".join(out)


def _substitute(style: RedactionStyle) -> Callable[[re.Match[str]], str]:
    def redact_match(m: re.Match[str]) -> str:
        text, start, end = m.string, m.start(), m.end()
        # Only a run with letters on both sides is part of a token: "tel13812348000" is still a phone.
        inside = start > 0 and end < len(text)
        glued = inside and text[start - 1] in _ASCII_LETTERS and text[end] in _ASCII_LETTERS
        return _redact_run(m.group(0), glued, style)

    return redact_match


def redact_text(text: str, *, style: RedactionStyle = RedactionStyle.LABEL) -> str:
    """Redact phone, ID and card numbers in `text`; text without such values is returned unchanged.

    `LABEL` (the default, for logs) replaces each value by ``[phone]``, ``[id]`` or ``[card]``; `MASK`
    keeps the length and shows the digits the display rules allow (phone/ID 3+4, card last 4).
    """
    if not _QUICK.search(text):
        return text
    sub = _SUBSTITUTE[style]
    if _KEPT_TOKEN.search(text):
        # UUIDs and digests are never personal data; keep them intact.
        parts = _KEPT_TOKEN.split(text)
        kept = _KEPT_TOKEN.findall(text)
        out = [_RUN.sub(sub, parts[0])]
        for token, part in zip(kept, parts[1:], strict=True):
            out += [token, _RUN.sub(sub, part)]
        return "".join(out)
    return _RUN.sub(sub, text)


_SUBSTITUTE: Final = {style: _substitute(style) for style in RedactionStyle}


_SAFE_SCALARS: Final = (bool, float, Decimal, datetime, date, time, timedelta, uuid.UUID, Enum, type(None))


def redact_value(value: Any, _depth: int = 0) -> Any:
    """Redact a structure: strings, numbers, dict values/keys, lists, tuples, sets and exceptions."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, _SAFE_SCALARS):
        return value
    if isinstance(value, int):
        if -(10 ** (_MIN_DIGITS - 1)) < value < 10 ** (_MIN_DIGITS - 1):
            return value
        text = str(value)
        masked = redact_text(text)
        return value if masked == text else masked
    if _depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        return {_redact_key(k): _redact_item(k, v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [redact_value(v, _depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    # Unknown objects would be rendered with str()/repr() later, which may include personal data.
    return redact_text(str(value))


def _redact_key(key: Any) -> Any:
    return redact_text(key) if isinstance(key, str) else key


def _redact_item(key: Any, value: Any, depth: int) -> Any:
    if isinstance(key, str) and value is not None and _SENSITIVE_KEY.search(key.replace("-", "_")):
        return REDACTED
    return redact_value(value, depth)


def _format_exc_info(exc_info: Any) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[1] is not None:
        return "".join(traceback.format_exception(*exc_info))
    return None


def redact_event_dict(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact every value of the event, and render `exc_info` to redacted text.

    Place it last before the renderer (after `format_exc_info` if that is used), so nothing added by a later
    processor escapes it.
    """
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        rendered = _format_exc_info(exc_info)
        if rendered is not None:
            event_dict["exception"] = rendered
    for key in list(event_dict):
        event_dict[key] = _redact_item(key, event_dict[key], 0)
    return event_dict
