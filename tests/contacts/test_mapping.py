"""Column mapping templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from callvault.contacts.mapping import ColumnMapping, MappingError


def test_template_round_trip(tmp_path: Path) -> None:
    mapping = ColumnMapping(
        phones=("手机号码", "联系电话"), name="客户姓名", id_number="证件号码", custom={"branch": "开户网点"}
    )
    mapping.save(tmp_path / "bank.json")
    assert "客户姓名" in (tmp_path / "bank.json").read_text(encoding="utf-8")
    assert ColumnMapping.load(tmp_path / "bank.json") == mapping


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"phones": []},
        {"phones": ["a"], "nmae": "b"},
        {"phones": ["a", "a"]},
        {"phones": ["a"], "name": "a"},
        {"phones": ["a"], "custom": {"name": "b"}},
        {"phones": "a", "custom": ["b"]},
    ],
)
def test_bad_templates_are_refused(raw: object) -> None:
    with pytest.raises(MappingError):
        ColumnMapping.from_json(raw)


def test_unreadable_template(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(MappingError):
        ColumnMapping.load(tmp_path / "t.json")


def test_columns_must_exist_and_be_unambiguous() -> None:
    mapping = ColumnMapping(phones=("phone",), name="name")
    mapping.check_columns(["name", "phone"], set())
    mapping.check_columns([], set())  # JSON: no header to check against
    with pytest.raises(MappingError, match="not in the file"):
        mapping.check_columns(["name", "mobile"], set())
    with pytest.raises(MappingError, match="more than once"):
        mapping.check_columns(["name", "phone", "phone#2"], {"phone"})
    ColumnMapping(phones=("phone#2",)).check_columns(["phone", "phone#2"], {"phone"})


def test_guess_from_common_chinese_headers() -> None:
    guessed = ColumnMapping.guess(["客户姓名", "手机号码", "联系电话", "身份证号", "卡号", "网点"])
    assert guessed == ColumnMapping(
        phones=("手机号码", "联系电话"),
        name="客户姓名",
        id_number="身份证号",
        card_number="卡号",
        custom={"网点": "网点"},
    )
    with pytest.raises(MappingError):
        ColumnMapping.guess(["a", "b"])
