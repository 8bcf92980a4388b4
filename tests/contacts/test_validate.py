"""Row validation, masking, the error report and in-file dedupe."""

from __future__ import annotations

import codecs
import csv
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.contacts.dedupe import SeenPhones
from callvault.contacts.mapping import ColumnMapping
from callvault.contacts.phones import Phone, PhoneType
from callvault.contacts.readers import Position, SourceRow
from callvault.contacts.report import ErrorReport, excel_safe
from callvault.contacts.validate import Contact, Rejection, RowValidator, id_checksum_ok, mask_id

MAPPING = ColumnMapping(
    phones=("手机", "电话"), name="姓名", id_number="身份证", card_number="卡号", custom={"branch": "网点"}
)
VALID_ID = "11010519491231002X"


def _row(**fields: str) -> SourceRow:
    return SourceRow.from_fields(7, fields, Position(0, 7))


def test_accepted_row_is_normalised() -> None:
    outcome = RowValidator(MAPPING).validate(
        _row(
            姓名=" 张三 ",
            手机="138 0013 8000",
            电话="+86 13800138000",
            身份证="11010519491231002x",
            卡号="6222 0212 3456 7890",
            网点=" 北京 ",
        )
    )
    assert outcome == Contact(
        7,
        (Phone("+8613800138000", PhoneType.MOBILE),),
        "张三",
        VALID_ID,
        "6222021234567890",
        {"branch": "北京"},
    )


def test_second_phone_becomes_primary_when_first_is_empty() -> None:
    outcome = RowValidator(MAPPING).validate(_row(姓名="李四", 手机="", 电话="010-88886666"))
    assert isinstance(outcome, Contact)
    assert outcome.primary_phone == Phone("+861088886666", PhoneType.FIXED_LINE)


def test_rejections_name_the_column_and_mask_the_value() -> None:
    validator = RowValidator(MAPPING)
    cases = {
        "phone.emergency": _row(姓名="A", 手机="110"),
        "phone.scientific_notation": _row(姓名="A", 手机="1.38E+10"),
        "phone.missing": _row(姓名="A", 手机=" "),
        "row.empty": _row(姓名=" ", 手机=""),
        "name.invalid": _row(姓名="", 手机="13800138000"),
        "id.checksum": _row(姓名="A", 手机="13800138000", 身份证="110105194912310021"),
        "id.lossy_number": _row(姓名="A", 手机="13800138000", 身份证="1.10105194912310E+17"),
        "card.invalid": _row(姓名="A", 手机="13800138000", 卡号="6222-0212"),
    }
    for code, row in cases.items():
        outcome = validator.validate(row)
        assert isinstance(outcome, Rejection), code
        assert outcome.code == code, (code, outcome)
        assert outcome.line == 7
    bad_second = validator.validate(_row(姓名="A", 手机="13800138000", 电话="13900139"))
    assert bad_second == Rejection(7, "电话", "phone.invalid", bad_second.reason, "139*0139")
    bad_id = validator.validate(_row(姓名="A", 手机="13800138000", 身份证="110105194912310021"))
    assert isinstance(bad_id, Rejection)
    assert bad_id.value == "**************0021"
    unreadable = validator.validate(SourceRow.from_fields(9, {}, Position(0, 9), "row has 3 fields, the header has 2"))
    assert unreadable == Rejection(9, "", "row.unreadable", "row has 3 fields, the header has 2")


def test_id_checksum() -> None:
    assert id_checksum_ok(VALID_ID)
    assert not id_checksum_ok("110105194912310021")
    assert mask_id(VALID_ID) == "*" * 14 + "002X"


def test_report_is_excel_friendly_and_masked(tmp_path: Path) -> None:
    report = ErrorReport(tmp_path / "errors.csv")
    report.add(Rejection(3, "手机", "phone.invalid", "not valid", "=HYPERLINK(1)"))
    report.add(Rejection(4, "", "row.unreadable", "ragged"))
    report.close()
    data = (tmp_path / "errors.csv").read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(data.decode("utf-8-sig").splitlines()))
    assert rows[0][0] == "行号 line"
    assert rows[1] == ["3", "手机", "phone.invalid", "not valid", "'=HYPERLINK(1)"]
    assert excel_safe("+86***") == "'+86***"
    assert excel_safe("138****8000") == "138****8000"


def test_report_resume_truncates_to_the_checkpoint(tmp_path: Path) -> None:
    report = ErrorReport(tmp_path / "e.csv")
    report.add(Rejection(2, "a", "x", "y"))
    offset = report.flush()
    report.add(Rejection(3, "a", "x", "y"))
    report.close()
    resumed = ErrorReport(tmp_path / "e.csv", resume_offset=offset)
    resumed.add(Rejection(4, "a", "x", "y"))
    resumed.close()
    lines = (tmp_path / "e.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["2", "4"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 10**15 - 1) | st.integers(0, 40), max_size=300), max_size=12))
def test_seen_phones_behaves_like_a_set(batches: list[list[int]]) -> None:
    seen, reference = SeenPhones(max_run=64), set()
    for batch in batches:
        expected = []
        for key in batch:
            expected.append(key not in reference)
            reference.add(key)
        assert seen.first_seen(batch) == expected
    assert len(seen) == len(reference)


def test_batch_validation_equals_row_by_row(tmp_path: Path) -> None:
    from callvault.contacts.bench import MAPPING as BENCH_MAPPING
    from callvault.contacts.bench import generate_call_list
    from callvault.contacts.readers import CsvReader

    rows = list(CsvReader(generate_call_list(tmp_path / "list.csv", 3000)).rows())
    validator = RowValidator(BENCH_MAPPING)
    assert validator.validate_batch(rows) == [validator.validate(r) for r in rows]


_ARABIC_INDIC = {ord("0") + d: 0x0660 + d for d in range(10)}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "手机": st.sampled_from(
                    [
                        "13800138000",
                        "",
                        " ",
                        "13800138000 ",
                        "110",
                        "1.38E+10",
                        "14000000000",
                        "13800138000".translate(_ARABIC_INDIC),
                    ]
                ),
                "电话": st.sampled_from(["13800138000", "13900139000", "", "010-88886666"]),
                "姓名": st.sampled_from(["张三", "", " 李四 ", "a\x01", "王" * 70]),
                "身份证": st.sampled_from(
                    [VALID_ID, VALID_ID.lower(), "110105194912310021", "", " ", VALID_ID.translate(_ARABIC_INDIC)]
                ),
                "卡号": st.sampled_from(
                    ["6222021234567890", "6222 0212 3456 7890", "12", "", "6222021234567890".translate(_ARABIC_INDIC)]
                ),
                "网点": st.sampled_from(["北京", " 上海 ", "x" * 1001, ""]),
            },
        ),
        max_size=20,
    ),
    st.lists(st.booleans(), max_size=20),
    st.booleans(),
)
def test_batch_validation_equals_row_by_row_on_odd_cells(
    records: list[dict[str, str]], broken: list[bool], trim: bool
) -> None:
    rows = [
        SourceRow.from_fields(i + 2, r, Position(i, i + 2), "ragged" if i < len(broken) and broken[i] else None)
        for i, r in enumerate(records)
    ]
    validator = RowValidator(replace(MAPPING, trim=trim))
    assert validator.validate_batch(rows) == [validator.validate(r) for r in rows]
