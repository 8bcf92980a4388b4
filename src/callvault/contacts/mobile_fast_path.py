"""Fast path for Chinese mobiles, proven from `phonenumbers` metadata when the module loads.

`phonenumbers.number_type` checks, in order: the general pattern, premium rate, toll free, shared cost,
VoIP, personal, pager, UAN, voicemail, fixed line, then mobile. For an 11-digit number starting `1[3-9]`
the answer is MOBILE exactly when the mobile pattern matches, *provided* the general pattern accepts every
11-digit string starting with 1 and no earlier type can start with `1[3-9]`. Both conditions are checked
here on the parsed patterns (a conservative over-approximation of their first two characters); if a future
metadata release breaks them, `FAST_PATH_PROVEN` is False and every number takes the full path.
"""

from __future__ import annotations

import re
import re._constants as sre  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from typing import Any, Final

import phonenumbers

_DIGITS: Final = frozenset("0123456789")
_MOBILE_HEADS: Final = frozenset(f"1{d}" for d in "3456789")
_EARLIER_TYPES: Final = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


class _Unknown(Exception):
    """A regex construct the head analysis does not handle: the proof is abandoned."""


def _char_class(items: list[tuple[Any, Any]]) -> set[str]:
    chars: set[str] = set()
    for op, av in items:
        if op is sre.LITERAL:
            chars.add(chr(av))
        elif op is sre.RANGE:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        elif op is sre.CATEGORY and av is sre.CATEGORY_DIGIT:
            chars.update(_DIGITS)
        else:
            raise _Unknown(op)
    return chars & _DIGITS


def _sequence_heads(nodes: Any, k: int) -> set[str]:
    heads = {""}
    for node in nodes:
        grown: set[str] = set()
        for head in heads:
            if len(head) >= k:
                grown.add(head)
            else:
                grown.update(head + tail for tail in _node_heads(node, k - len(head)))
        heads = grown
    return heads


def _node_heads(node: tuple[Any, Any], k: int) -> set[str]:
    """Every possible prefix (up to k characters) of strings the node matches."""
    op, av = node
    if op is sre.LITERAL:
        return {chr(av)}
    if op is sre.IN:
        return _char_class(av)
    if op is sre.SUBPATTERN:
        return _sequence_heads(av[-1], k)
    if op is sre.BRANCH:
        return set().union(*(_sequence_heads(branch, k) for branch in av[1]))
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        low, high, body = av
        heads: set[str] = set()
        for count in range(low, min(high, k) + 1):
            heads |= _sequence_heads(list(body) * count, k)
        return heads
    raise _Unknown(op)


def pattern_heads(pattern: str, k: int = 2) -> set[str]:
    """Prefixes of length k (or whole strings if shorter) that strings matching `pattern` can start with."""
    return _sequence_heads(sre_parse.parse(pattern), k)


def _general_accepts_all_11_digit_ones(pattern: str) -> bool:
    parsed = sre_parse.parse(pattern)
    wanted = list(sre_parse.parse(r"1\d{10}"))
    top = list(parsed)
    branches = top[0][1][1] if len(top) == 1 and top[0][0] is sre.BRANCH else [top]
    # Parsed sub-patterns have no equality of their own; their reprs spell out the whole tree.
    return any(repr(list(branch)) == repr(wanted) for branch in branches)


def _prove(metadata: Any) -> bool:
    try:
        mobile = metadata.mobile
        if tuple(mobile.possible_length) != (11,) or not pattern_heads(mobile.national_number_pattern) <= (
            _MOBILE_HEADS
        ):
            return False
        if not _general_accepts_all_11_digit_ones(metadata.general_desc.national_number_pattern):
            return False
        for name in _EARLIER_TYPES:
            desc = getattr(metadata, name, None)
            pattern = getattr(desc, "national_number_pattern", None)
            lengths = tuple(getattr(desc, "possible_length", None) or metadata.general_desc.possible_length)
            # phonenumbers checks the possible lengths before the pattern: an 8-digit type cannot match.
            if pattern and 11 in lengths and pattern_heads(pattern) & _MOBILE_HEADS:
                return False
    except _Unknown:
        return False
    return True


_CN: Final[Any] = phonenumbers.PhoneMetadata.metadata_for_region("CN")
FAST_PATH_PROVEN: Final = _CN is not None and _prove(_CN)
# With the proof, an 11-digit cell is a valid CN mobile iff this matches; `phonenumbers` is not called.
# ASCII only: `\d` would otherwise match any Unicode digit (Arabic-Indic, Devanagari...), which `phonenumbers`
# folds to ASCII but the fast path would have copied into the "E.164" form as they are.
MOBILE_RE: Final = re.compile(_CN.mobile.national_number_pattern if FAST_PATH_PROVEN else r"(?!)", re.ASCII)
PREFIXED_MOBILE_RE: Final = re.compile(rf"(?:\+86|0086|86)((?:{MOBILE_RE.pattern}))", re.ASCII)
