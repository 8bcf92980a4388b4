"""Unambiguous encoding of associated data and MAC inputs.

Every part is length-prefixed, so ("ab", "c") and ("a", "bc") never encode to the same bytes.
"""

from __future__ import annotations


def pack_parts(*parts: str | bytes | int) -> bytes:
    """Encode parts as a sequence of (4-byte big-endian length, bytes); ints as decimal text."""
    out: list[bytes] = []
    for part in parts:
        if isinstance(part, bytes):
            raw = part
        elif isinstance(part, int):
            raw = str(part).encode("ascii")
        else:
            raw = part.encode("utf-8")
        out.append(len(raw).to_bytes(4, "big"))
        out.append(raw)
    return b"".join(out)
