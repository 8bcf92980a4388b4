"""List-import benchmark: the full pipeline next to stdlib `csv` on the same generated call list.

Each measurement runs in a fresh `measure` process that starts one `worker` process and reads the worker's
peak RSS from `getrusage(RUSAGE_CHILDREN)`, so one run's memory never shows up in another's figure.
Run it with `callvault bench import --rows N --json` or `python bench/import_bench.py`.
"""

from __future__ import annotations

import csv
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from callvault.contacts.mapping import ColumnMapping
from callvault.contacts.pipeline import run_import  # imported here: module loading is not timed
from callvault.contacts.readers import CsvReader
from callvault.contacts.sinks import CountingSink

HEADER: Final = ("客户姓名", "手机号码", "联系电话", "证件号码", "开户网点", "备注")
MAPPING: Final = ColumnMapping(
    phones=("手机号码", "联系电话"),
    name="客户姓名",
    id_number="证件号码",
    custom={"branch": "开户网点", "note": "备注"},
)
MODES: Final = ("stdlib_csv", "reader", "pipeline")
_SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
_GIVEN: Final = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉兵海峰宇浩然子涵欣怡梓轩雨"
_PREFIXES: Final = ("138", "139", "135", "136", "137", "150", "151", "152", "158", "159", "182", "187", "188")
_PREFIXES_2: Final = (
    "130",
    "131",
    "132",
    "155",
    "156",
    "185",
    "186",
    "133",
    "153",
    "180",
    "181",
    "189",
    "199",
)
_BRANCHES: Final = (
    "北京分行营业部",
    "上海浦东支行",
    "深圳福田支行",
    "广州天河支行",
    "杭州西湖支行",
    "成都高新支行",
)
_BAD_PHONES: Final = ("1.38E+10", "110", "12345", "", "138001380", "0755-119", "abc")
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_number(rng: random.Random) -> str:
    body = f"{rng.choice(('110101', '310115', '440305', '440106', '330106', '510107'))}"
    body += f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def generate_call_list(path: Path, rows: int, *, seed: int = 20261123) -> Path:
    """Write a realistic UTF-8 call list: Chinese names, mobiles in several spellings, ~2 % bad rows,
    ~3 % repeated numbers."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    issued: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for i in range(rows):
            roll = rng.random()
            if roll < 0.02:
                mobile = rng.choice(_BAD_PHONES)
            elif roll < 0.05 and issued:
                mobile = rng.choice(issued)
            else:
                mobile = rng.choice(_PREFIXES) + f"{rng.randrange(10**8):08d}"
                if len(issued) < 10_000:
                    issued.append(mobile)
                if roll > 0.97:
                    mobile = f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}"
                elif roll > 0.94:
                    mobile = f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
            second = rng.choice(_PREFIXES_2) + f"{rng.randrange(10**8):08d}" if roll > 0.7 else ""
            name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))
            note = "VIP客户" if i % 17 == 0 else ""
            out.writerow((name, mobile, second, _id_number(rng), rng.choice(_BRANCHES), note))
    return path


def _work(mode: str, path: Path) -> int:
    if mode == "stdlib_csv":
        with path.open(encoding="utf-8", newline="") as f:
            return sum(1 for _ in csv.reader(f)) - 1
    if mode == "reader":
        return sum(1 for _ in CsvReader(path).rows())
    with tempfile.TemporaryDirectory() as scratch:
        result = run_import(
            path, fmt="csv", mapping=MAPPING, sink=CountingSink(), report_path=Path(scratch) / "errors.csv"
        )
    return result.total


def worker(mode: str, path: Path) -> dict[str, Any]:
    """Run one mode over the file in this process; wall time and CPU time (the host may be shared)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    rows = _work(mode, path)
    return {
        "mode": mode,
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
    }


def measure(mode: str, path: Path) -> dict[str, Any]:
    """Run `worker` in a child process; add its peak RSS (this process has no other child)."""
    done = subprocess.run(  # noqa: S603 - fixed argv: this module, our own file
        [sys.executable, "-m", "callvault.contacts.bench", "worker", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    figures["peak_rss_mb"] = round(peak_kib / 1024, 1)
    return figures


def run_benchmark(rows: int, *, repeat: int = 3, directory: Path | None = None) -> dict[str, Any]:
    """Generate a call list of `rows` rows and report the median rows/s and peak RSS for each mode."""
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        path = generate_call_list(Path(scratch) / "call_list.csv", rows)
        size_mb = path.stat().st_size / 1e6
        results: dict[str, Any] = {"rows": rows, "file_mb": round(size_mb, 1), "repeat": repeat, "modes": {}}
        for mode in MODES:
            runs = []
            for _ in range(repeat):
                done = subprocess.run(  # noqa: S603 - fixed argv: this module, our own file
                    [sys.executable, "-m", "callvault.contacts.bench", "measure", mode, str(path)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs.append(json.loads(done.stdout))
            seconds = statistics.median(r["seconds"] for r in runs)
            cpu_seconds = statistics.median(r["cpu_seconds"] for r in runs)
            results["modes"][mode] = {
                "rows_read": runs[0]["rows"],
                "seconds": round(seconds, 3),
                "rows_per_s": round(rows / seconds),
                "cpu_seconds": round(cpu_seconds, 3),
                "rows_per_cpu_s": round(rows / cpu_seconds),
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
            }
    return results


def main(argv: list[str]) -> None:
    """Entry for the child processes: `worker MODE FILE` or `measure MODE FILE`."""
    command, mode, file = argv
    figures = worker(mode, Path(file)) if command == "worker" else measure(mode, Path(file))
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
