"""Every text of the console pages is in both catalogs (zh_CN, the default, and en)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from callvault.web import console
from callvault.web.i18n import LOCALES
from callvault.web.messages import dynamic_message_ids


def _template_message_ids() -> list[str]:
    ids: list[str] = []
    for path in sorted(console.TEMPLATES.glob("*.html")):
        with path.open("rb") as fh:
            for _line, _func, message, _comments in babel_extract(fh, ["_", "gettext"], [], {}):
                if isinstance(message, str) and message not in ids:
                    ids.append(message)
    return ids


@pytest.mark.parametrize("locale", LOCALES)
def test_every_console_text_is_translated(locale: str) -> None:
    path = Path(console.__file__).parent / "locales" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    wanted = _template_message_ids() + dynamic_message_ids()
    assert len(wanted) > 150
    missing = [m for m in wanted if m not in catalog or not catalog[m].string]
    assert missing == []
    if locale == "zh_CN":
        assert catalog["Audit trail"].string == "审计日志"
