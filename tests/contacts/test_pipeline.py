"""End-to-end import of hostile files, counting invariants, and crash/resume without loss or repeats."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from callvault.contacts.checkpoint import Checkpoint
from callvault.contacts.mapping import ColumnMapping, MappingError
from callvault.contacts.pipeline import ImportResult, run_import
from callvault.contacts.readers import SourceFileError
from callvault.contacts.sinks import JsonlSink, MemorySink
from callvault.contacts.validate import Contact, Rejection

MAPPING = ColumnMapping(phones=("手机",), name="姓名")


def _import(path: Path, tmp_path: Path, **options: object) -> tuple[ImportResult, MemorySink, list[list[str]]]:
    sink = MemorySink()
    options.setdefault("mapping", MAPPING)
    result = run_import(path, sink=sink, report_path=tmp_path / "errors.csv", **options)  # type: ignore[arg-type]
    assert result.total == result.accepted + result.rejected + result.duplicates
    assert len(sink.contacts) == result.accepted
    report = list(csv.reader((tmp_path / "errors.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert len(report) - 1 == result.rejected + result.duplicates  # every row not imported is explained
    assert sink.checkpoint is not None
    assert sink.checkpoint.total == result.total
    return result, sink, report[1:]


def _codes(report: list[list[str]]) -> dict[int, str]:
    return {int(row[0]): row[2] for row in report}


def test_hostile_csv(tmp_path: Path) -> None:
    lines = [
        "姓名,手机,备注",
        "张三,13800138000,ok",
        '李四,"139 0013 9000","多行',
        '备注"',
        "王五,１３７００１３７０００,全角",  # noqa: RUF001 - full-width input is the case under test
        '"赵六","1.38E+10",科学计数',
        "钱七,138-0013-8000,重复",
        "孙八,110,报警",
        "周九",
        "吴十,+86 (150) 0015-0000,extra,cells",
        ",,",
        "",
        "郑一,0086 18600186000,",
        "冯二,=cmd|' /C calc'!A0,公式",
    ]
    path = tmp_path / "list.csv"
    path.write_bytes(codecs.BOM_UTF8 + "\r\n".join(lines).encode("utf-8"))
    result, sink, report = _import(path, tmp_path, fmt="auto")
    assert (result.total, result.accepted, result.rejected, result.duplicates) == (10, 4, 5, 1)
    assert [c.line for c in sink.contacts] == [2, 3, 5, 13]
    assert sink.contacts[1].custom is None
    assert sink.contacts[1].primary_phone.e164 == "+8613900139000"
    assert _codes(report) == {
        6: "phone.scientific_notation",
        7: "row.duplicate",
        8: "phone.emergency",
        9: "row.unreadable",
        10: "row.unreadable",
        14: "phone.not_digits",
    }
    assert [row[4][:3] for row in report if row[0] == "14"] == ["'=c"]  # never a live formula in Excel
    assert [row[4] for row in report if row[0] == "7"] == ["138****8000"]


def test_gbk_file_with_duplicate_columns(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("姓名;手机;手机\n张三;13800138000;13900139000\n".encode("gbk"))
    with pytest.raises(MappingError, match="more than once"):
        _import(path, tmp_path)
    result, sink, _ = _import(path, tmp_path, mapping=ColumnMapping(phones=("手机#2",), name="姓名"))
    assert result.accepted == 1
    assert sink.contacts[0].primary_phone.e164 == "+8613900139000"


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8, "姓名,手机\r\n".encode(), b"\n\n"])
def test_empty_and_header_only(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(data)
    result, _sink, report = _import(path, tmp_path, fmt="csv")
    assert result.to_json() == {
        "total": 0,
        "accepted": 0,
        "rejected": 0,
        "duplicates": 0,
        "report": str(tmp_path / "errors.csv"),
    }
    assert report == []


def test_xlsx_with_formulas_and_excel_numbers(tmp_path: Path, xlsx: Callable[..., Path]) -> None:
    path = xlsx(
        tmp_path / "list.xlsx",
        [
            ["姓名", "手机"],
            ["张三", 13800138000],
            ["李四", ("A2+1", "13800138001")],
            ["王五", "1.38E+10"],
            ["赵六", 13800138000.0],
            ["钱七", ("1/0", "#DIV/0!")],
        ],
    )
    result, sink, report = _import(path, tmp_path)
    assert (result.accepted, result.rejected, result.duplicates) == (2, 2, 1)
    assert [c.primary_phone.e164 for c in sink.contacts] == ["+8613800138000", "+8613800138001"]
    assert _codes(report) == {4: "phone.scientific_notation", 5: "row.duplicate", 6: "phone.excel_error"}


def test_json_and_ndjson_guess_the_mapping(tmp_path: Path) -> None:
    items = [{"姓名": "张三", "手机": 13800138000}, {"姓名": "李四", "手机": "13800138000"}, {"姓名": "王五"}]
    (tmp_path / "a.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "a.ndjson").write_text(
        "\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n", encoding="utf-8"
    )
    for name in ("a.json", "a.ndjson"):
        result, _, report = _import(tmp_path / name, tmp_path, mapping=None)
        assert (result.accepted, result.rejected, result.duplicates) == (1, 1, 1), name
        assert _codes(report) == {3: "phone.missing"} | _codes(report)


def test_fixed_width(tmp_path: Path) -> None:
    layout = tmp_path / "layout.json"
    layout.write_text(
        json.dumps({"fields": [{"name": "姓名", "start": 1, "width": 8}, {"name": "手机", "start": 9, "width": 11}]}),
        encoding="utf-8",
    )
    (tmp_path / "list.txt").write_bytes("张三    13800138000\r\n李四    119\r\n".encode("gb18030"))
    result, _, report = _import(tmp_path / "list.txt", tmp_path, layout=layout)
    assert (result.accepted, result.rejected) == (1, 1)
    assert _codes(report) == {2: "phone.emergency"}


def test_file_level_errors_are_raised_before_anything_is_stored(tmp_path: Path) -> None:
    (tmp_path / "u16.csv").write_bytes(codecs.BOM_UTF16_LE + "a,b\n".encode("utf-16-le"))
    with pytest.raises(SourceFileError):
        run_import(tmp_path / "u16.csv", mapping=MAPPING, sink=MemorySink(), report_path=tmp_path / "e.csv")
    assert not (tmp_path / "e.csv").exists()


def _big_list(path: Path, rows: int) -> Path:
    with path.open("w", encoding="gb18030", newline="") as f:
        out = csv.writer(f)
        out.writerow(["姓名", "手机"])
        for i in range(rows):
            phone = "110" if i % 11 == 0 else f"1380013{i % 700:04d}"  # rejects and repeats spread around
            out.writerow([f"客户{i}", phone] if i % 13 else [f"客户\n{i}", phone])
    return path


class CrashingSink:
    """A JSONL sink that dies during its n-th batch, after or before its rows reach the file."""

    def __init__(self, inner: JsonlSink, crash_at_batch: int, *, after_rows: bool) -> None:
        self.inner = inner
        self.batches = 0
        self.crash_at_batch = crash_at_batch
        self.after_rows = after_rows

    def write_batch(self, contacts: Sequence[Contact], checkpoint: Checkpoint) -> None:
        self.batches += 1
        if self.batches == self.crash_at_batch:
            if self.after_rows:  # rows durable, checkpoint not yet published
                lines = "".join(json.dumps({"line": c.line, "partial": True}) + "\n" for c in contacts)
                self.inner._file.write(lines.encode())
                self.inner._file.flush()
            raise RuntimeError("power cut")
        self.inner.write_batch(contacts, checkpoint)

    def accepted_primary_phones(self) -> list[str]:
        return list(self.inner.accepted_primary_phones())


@pytest.mark.parametrize(("fmt", "crash_at", "after_rows"), [("csv", 3, False), ("csv", 5, True), ("csv", 1, True)])
def test_crash_and_resume_loses_nothing_and_repeats_nothing(
    tmp_path: Path, fmt: str, crash_at: int, after_rows: bool
) -> None:
    source = _big_list(tmp_path / "list.csv", 1000)
    clean_sink = MemorySink()
    clean = run_import(source, mapping=MAPPING, sink=clean_sink, report_path=tmp_path / "clean.csv", batch_rows=97)

    store = tmp_path / "contacts.jsonl"
    crashing = CrashingSink(JsonlSink(store, durable=False), crash_at, after_rows=after_rows)
    with pytest.raises(RuntimeError, match="power cut"):
        run_import(source, mapping=MAPPING, sink=crashing, report_path=tmp_path / "errors.csv", batch_rows=97)
    crashing.inner.close()

    resumed_sink = JsonlSink(store, resume=True, durable=False)
    checkpoint = resumed_sink.last_checkpoint()
    assert (checkpoint is None) == (crash_at == 1)
    result = run_import(
        source,
        mapping=MAPPING,
        sink=resumed_sink,
        report_path=tmp_path / "errors.csv",
        resume_from=checkpoint,
        batch_rows=97,
    )
    stored = list(resumed_sink.contacts())
    resumed_sink.close()
    assert [c.line for c in stored] == [c.line for c in clean_sink.contacts]
    assert stored == clean_sink.contacts
    assert (result.total, result.accepted, result.rejected, result.duplicates) == (
        clean.total,
        clean.accepted,
        clean.rejected,
        clean.duplicates,
    )
    assert (tmp_path / "errors.csv").read_bytes() == (tmp_path / "clean.csv").read_bytes()


@pytest.mark.parametrize("fmt", ["ndjson", "json", "xlsx", "fixed"])
def test_resume_in_every_format(tmp_path: Path, fmt: str, xlsx: Callable[..., Path]) -> None:
    records = [(f"客户{i}", "119" if i % 7 == 0 else f"1390013{i % 40:04d}") for i in range(120)]
    layout = None
    if fmt == "ndjson":
        path = tmp_path / "l.ndjson"
        path.write_text("".join(json.dumps({"姓名": n, "手机": p}) + "\n" for n, p in records), encoding="utf-8")
    elif fmt == "json":
        path = tmp_path / "l.json"
        path.write_text(json.dumps([{"姓名": n, "手机": p} for n, p in records], indent=2), encoding="utf-8")
    elif fmt == "xlsx":
        path = xlsx(tmp_path / "l.xlsx", [["姓名", "手机"], *[[n, p] for n, p in records]])
    else:
        path = tmp_path / "l.txt"
        path.write_bytes("".join(f"{n:<8}{p:<11}\n" for n, p in records).encode("gbk"))
        layout = tmp_path / "layout.json"
        layout.write_text(
            json.dumps(
                {
                    "unit": "chars",
                    "fields": [
                        {"name": "姓名", "start": 1, "width": 8},
                        {"name": "手机", "start": 9, "width": 11},
                    ],
                }
            )
        )
    clean = MemorySink()
    run_import(path, mapping=MAPPING, layout=layout, sink=clean, report_path=tmp_path / "c.csv", batch_rows=10)
    partial = MemorySink()
    seen: list[Checkpoint] = []

    def stop_after_four(checkpoint: Checkpoint) -> None:
        seen.append(checkpoint)
        if len(seen) == 4:
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        run_import(
            path,
            mapping=MAPPING,
            layout=layout,
            sink=partial,
            report_path=tmp_path / "e.csv",
            batch_rows=10,
            progress=stop_after_four,
        )
    run_import(
        path,
        mapping=MAPPING,
        layout=layout,
        sink=partial,
        report_path=tmp_path / "e.csv",
        batch_rows=10,
        resume_from=partial.checkpoint,
    )
    assert partial.contacts == clean.contacts
    assert partial.checkpoint is not None
    assert clean.checkpoint is not None
    assert partial.checkpoint.accepted == clean.checkpoint.accepted
    assert partial.checkpoint.duplicates == clean.checkpoint.duplicates
    assert (tmp_path / "e.csv").read_bytes() == (tmp_path / "c.csv").read_bytes()


def test_large_file_streams(tmp_path: Path) -> None:
    source = _big_list(tmp_path / "list.csv", 30_000)
    ticks: list[Checkpoint] = []
    result = run_import(
        source, mapping=MAPPING, sink=MemorySink(), report_path=tmp_path / "e.csv", progress=ticks.append
    )
    assert result.total == 30_000
    assert len(ticks) == 6
    assert ticks[-1].position.offset == source.stat().st_size


def test_rich_progress_reports_counters(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from callvault.contacts.progress import import_progress
    from callvault.contacts.readers import SourceFormat

    source = _big_list(tmp_path / "list.csv", 12_000)
    output = io.StringIO()
    with import_progress(source, SourceFormat.CSV, console=Console(file=output, width=200)) as progress:
        result = run_import(
            source, mapping=MAPPING, sink=MemorySink(), report_path=tmp_path / "e.csv", progress=progress
        )
    assert f"{result.total:,} rows: {result.accepted:,} accepted" in output.getvalue()


class _ScreeningSink(MemorySink):
    """Refuses one number as already listed and another as do-not-call."""

    def screen(self, contacts: Sequence[Contact]) -> list[Rejection | None]:
        verdicts: dict[str, Rejection | None] = {
            "+8613800000001": Rejection(0, "手机", "row.duplicate", "already in the list", "138****0001"),
            "+8613800000002": Rejection(0, "手机", "dnc.listed", "on do-not-call list", "138****0002"),
        }
        out: list[Rejection | None] = []
        for c in contacts:
            found = verdicts.get(c.primary_phone.e164)
            out.append(found._replace(line=c.line) if found else None)
        return out


def test_screening_sink_counts_list_duplicates_and_refusals_in_line_order(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    rows = ["手机,姓名", "13800000001,甲", "13800000002,乙", "13800000003,丙", "bad,丁", "13800000003,戊"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    sink = _ScreeningSink()
    result = run_import(path, mapping=MAPPING, sink=sink, report_path=tmp_path / "errors.csv")
    assert (result.total, result.accepted, result.rejected, result.duplicates) == (5, 1, 2, 2)
    assert [c.primary_phone.e164 for c in sink.contacts] == ["+8613800000003"]
    report = list(csv.reader((tmp_path / "errors.csv").read_text(encoding="utf-8-sig").splitlines()))[1:]
    assert [(int(r[0]), r[2]) for r in report] == [
        (2, "row.duplicate"),
        (3, "dnc.listed"),
        (5, "phone.not_digits"),
        (6, "row.duplicate"),
    ]
