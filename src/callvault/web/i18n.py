"""Babel message catalogs (zh_CN default, en), compiled in memory from the .po files at first use."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LANG_COOKIE = "callvault_lang"
_DIR = Path(__file__).parent / "locales"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    import io

    with (_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The user's explicit choice (cookie) wins, then the browser's preference, then Chinese."""
    if cookie in LOCALES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
            return "zh_CN"
    return DEFAULT_LOCALE
