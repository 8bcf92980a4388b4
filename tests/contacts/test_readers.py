"""Streaming readers: encodings, delimiters, multi-line records, ragged rows, positions and resume."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from callvault.contacts.readers import (
    CsvReader,
    FixedWidthReader,
    JsonArrayReader,
    NdjsonReader,
    Position,
    SourceFileError,
    SourceFormat,
    SpreadsheetReader,
    detect_format,
    open_reader,
    parse_layout,
)
from callvault.contacts.readers.text import detect_encoding

ROWS = "姓名,手机\r\n张三,13800138000\r\n李四,13900139000\r\n"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _plain(reader: CsvReader | SpreadsheetReader | JsonArrayReader | NdjsonReader | FixedWidthReader) -> list:
    return [(r.line, r.fields, r.problem) for r in reader.rows()]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (ROWS.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + ROWS.encode("utf-8"), "utf-8"),
        (ROWS.encode("gb18030"), "gb18030"),
        (ROWS.encode("gbk"), "gb18030"),
    ],
)
def test_csv_encodings(tmp_path: Path, data: bytes, encoding: str) -> None:
    reader = CsvReader(_write(tmp_path, "list.csv", data))
    assert reader.encoding == encoding
    assert reader.columns == ["姓名", "手机"]
    assert _plain(reader) == [
        (2, {"姓名": "张三", "手机": "13800138000"}, None),
        (3, {"姓名": "李四", "手机": "13900139000"}, None),
    ]


def test_undecodable_line_is_named_and_rejected_alone(tmp_path: Path) -> None:
    data = (
        "姓名,手机\n张三,13800138000\n".encode()
        + "李四,13900139000\n".encode("gbk")
        + "王五,13700137000\n".encode() * 3
    )
    rows = list(CsvReader(_write(tmp_path, "mixed.csv", data)).rows())
    assert [r.line for r in rows] == [2, 3, 4, 5, 6]
    assert rows[1].problem is not None
    assert "UTF-8" in rows[1].problem
    assert "line 3" in rows[1].problem
    assert [r.problem for r in rows if r.line != 3] == [None] * 4


def test_utf16_is_a_clear_file_error(tmp_path: Path) -> None:
    with pytest.raises(SourceFileError, match="UTF-16"):
        detect_encoding(_write(tmp_path, "u16.csv", codecs.BOM_UTF16_LE + ROWS.encode("utf-16-le")))


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_sniffing(tmp_path: Path, delimiter: str) -> None:
    text = "".join(
        delimiter.join(cells) + "\n" for cells in [("name", "phone", "note"), ("A", "13800138000", "x, y; z")]
    )
    if delimiter != ",":
        text = text.replace("x, y; z", "xyz")
    reader = CsvReader(_write(tmp_path, "d.csv", text.encode()))
    assert reader.delimiter == delimiter
    assert reader.columns == ["name", "phone", "note"]


def test_quoted_field_across_lines_keeps_its_starting_line(tmp_path: Path) -> None:
    data = b'name,phone,address\nA,13800138000,"line one\nline two\nline three"\nB,13900139000,x\n'
    rows = list(CsvReader(_write(tmp_path, "q.csv", data)).rows())
    assert [(r.line, r.fields["address"]) for r in rows] == [(2, "line one\nline two\nline three"), (5, "x")]


def test_ragged_rows_are_reported_trailing_empties_tolerated(tmp_path: Path) -> None:
    data = b"name,phone\nA,13800138000,,\nB\nC,13700137000,extra\n"
    rows = list(CsvReader(_write(tmp_path, "r.csv", data)).rows())
    assert [r.problem is None for r in rows] == [True, False, False]
    assert rows[1].problem == "row has 1 fields, the header has 2"


@pytest.mark.parametrize("data", [b"", b"\n\n", codecs.BOM_UTF8, b"name,phone\n", b"name,phone\n\n,\n"])
def test_empty_and_header_only_files_have_no_rows(tmp_path: Path, data: bytes) -> None:
    assert list(CsvReader(_write(tmp_path, "e.csv", data)).rows()) == []


def test_duplicate_header_cells_are_kept_apart(tmp_path: Path) -> None:
    reader = CsvReader(_write(tmp_path, "dup.csv", b"phone,phone,\nA,B,C\n"))
    assert reader.columns == ["phone", "phone#2", "column_3"]
    assert reader.duplicate_columns == {"phone"}


def test_csv_resume_from_any_row_yields_exactly_the_rest(tmp_path: Path) -> None:
    body = "".join(
        f'n{i},1380013{i:04d},"a\n{i}"\r\n' if i % 3 == 0 else f"n{i},1380013{i:04d},x\r\n" for i in range(40)
    )
    path = _write(tmp_path, "big.csv", ("姓名,手机,备注\r\n" + body).encode("gb18030"))
    rows = list(CsvReader(path).rows())
    assert len(rows) == 40
    for k in (0, 1, 17, 39):
        rest = list(CsvReader(path, start=rows[k].after).rows())
        assert rest == rows[k + 1 :]


def test_lone_carriage_returns_do_not_crash(tmp_path: Path) -> None:
    rows = list(CsvReader(_write(tmp_path, "cr.csv", b"name,phone\nA,1\rB,2\nC,3\n")).rows())
    assert [r.line for r in rows] == [2, 3]


def test_unbalanced_quote_is_bounded(tmp_path: Path) -> None:
    data = b'name,phone\nA,"13800138000\n' + b"B,13900139000\n" * 20000
    rows = list(CsvReader(_write(tmp_path, "quote.csv", data)).rows())
    assert rows
    assert rows[0].line == 2
    assert rows[0].problem is not None


def test_xlsx_cached_formulas_floats_and_lossy_numbers(tmp_path: Path, xlsx: Callable[..., Path]) -> None:
    path = xlsx(
        tmp_path / "list.xlsx",
        [
            ["姓名", "手机", "证件号码"],
            ["张三", 13800138000, "110101199003077777"],
            ["李四", ('HYPERLINK("x")', "13900139000"), 110101199003077777],
            [None, None, None],
            ["王五", 1.38e10, None, "extra"],
        ],
    )
    assert detect_format(path) is SourceFormat.XLSX
    reader = SpreadsheetReader(path)
    assert reader.columns == ["姓名", "手机", "证件号码"]
    rows = list(reader.rows())
    assert [(r.line, r.fields["手机"]) for r in rows] == [
        (2, "13800138000"),
        (3, "13900139000"),
        (5, "13800000000"),
    ]
    assert rows[1].fields["证件号码"] == "1.10101199003078E+17"  # Excel already lost the last digits
    assert rows[2].problem is not None
    assert list(SpreadsheetReader(path, start=rows[0].after).rows()) == rows[1:]


def test_not_a_workbook(tmp_path: Path) -> None:
    with pytest.raises(SourceFileError):
        SpreadsheetReader(_write(tmp_path, "fake.xlsx", b"PK\x03\x04 not really"))


def test_json_array_streams_in_small_chunks(tmp_path: Path) -> None:
    items = [{"name": f"客户{i}", "phone": 13800138000 + i, "vip": i % 2 == 0, "note": None} for i in range(30)]
    path = _write(tmp_path, "list.json", json.dumps(items, ensure_ascii=False, indent=1).encode())
    assert detect_format(path) is SourceFormat.JSON
    rows = list(JsonArrayReader(path, chunk_chars=7).rows())
    assert len(rows) == 30
    assert rows[0].fields == {"name": "客户0", "phone": "13800138000", "vip": "true", "note": ""}
    assert rows[1].line == 2  # element number, not text line
    assert list(JsonArrayReader(path, start=rows[9].after, chunk_chars=64).rows()) == rows[10:]


def test_json_bad_elements_and_truncation(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.json", b'[{"phone": "1"}, 5, {"phone": {"x": 1}}, {"phone": 1.38e10},\n{"pho')
    rows = list(JsonArrayReader(path).rows())
    assert [r.problem is None for r in rows] == [True, False, False, True, False]
    assert rows[3].fields["phone"] == "1.38e10"  # kept as text: validation refuses it as lossy
    assert rows[4].problem is not None
    assert "rest was not read" in rows[4].problem
    assert rows[4].line == 5
    assert "text line 2" in rows[4].problem
    assert next(iter(JsonArrayReader(_write(tmp_path, "obj.json", b'{"a": 1}')).rows())).problem


def test_ndjson(tmp_path: Path) -> None:
    path = _write(tmp_path, "list.ndjson", b'{"phone": "13800138000"}\n\nnot json\n[1]\n{"phone": 139}\n')
    rows = list(NdjsonReader(path).rows())
    assert [(r.line, r.problem is None) for r in rows] == [(1, True), (3, False), (4, False), (5, True)]
    assert list(NdjsonReader(path, start=rows[1].after).rows()) == rows[2:]
    assert detect_format(_write(tmp_path, "x.data", b' {"a": 1}\n')) is SourceFormat.NDJSON


def test_fixed_width_in_gbk_bytes(tmp_path: Path) -> None:
    layout = parse_layout(
        {
            "unit": "bytes",
            "skip_lines": 1,
            "fields": [{"name": "name", "start": 1, "width": 8}, {"name": "phone", "start": 9, "width": 11}],
        }
    )
    lines = [
        "HEADER",
        "张三    13800138000",
        "欧阳娜娜13900139000   ",
        "李四    1370013",
        "王五    13700137000XX",
    ]
    path = _write(tmp_path, "list.txt", "\r\n".join(lines).encode("gbk"))
    rows = list(FixedWidthReader(path, layout).rows())
    assert [(r.line, r.fields.get("name"), r.fields.get("phone"), r.problem is None) for r in rows] == [
        (2, "张三", "13800138000", True),
        (3, "欧阳娜娜", "13900139000", True),
        (4, "李四", "1370013", True),
        (5, "王五", "13700137000", False),
    ]
    assert list(FixedWidthReader(path, layout, start=rows[0].after).rows()) == rows[1:]


def test_fixed_width_cut_character_is_reported(tmp_path: Path) -> None:
    layout = parse_layout({"fields": [{"name": "name", "start": 1, "width": 3}, {"name": "p", "start": 4, "width": 2}]})
    rows = list(FixedWidthReader(_write(tmp_path, "cut.txt", "张三12\n".encode("gbk")), layout).rows())
    assert rows[0].problem is not None
    assert "cut" in rows[0].problem


@pytest.mark.parametrize(
    "layout",
    [
        {},
        {"fields": []},
        {"fields": [{"name": "a", "start": 0, "width": 1}]},
        {"fields": [{"name": "a", "start": 1, "width": 5}, {"name": "b", "start": 3, "width": 2}]},
        {"fields": [{"name": "a", "start": 1}]},
        {"unit": "pixels", "fields": [{"name": "a", "start": 1, "width": 1}]},
    ],
)
def test_invalid_layouts(layout: dict) -> None:
    with pytest.raises(SourceFileError):
        parse_layout(layout)


def test_layout_files_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "layout.yaml").write_text("fields:\n  - {name: phone, start: 1, width: 11}\n", encoding="utf-8")
    (tmp_path / "layout.json").write_text('{"fields": [{"name": "phone", "start": 1, "width": 11}]}')
    data = _write(tmp_path, "list.dat", b"13800138000\n")
    for layout in ("layout.yaml", "layout.json"):
        reader = open_reader(data, "fixed", layout=tmp_path / layout)
        assert [r.fields for r in reader.rows()] == [{"phone": "13800138000"}]
    with pytest.raises(SourceFileError):
        open_reader(data, "fixed")


def test_positions_are_byte_offsets(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", b"a,b\n1,2\n3,4\n")
    assert [r.after for r in CsvReader(path).rows()] == [Position(8, 2), Position(12, 3)]
