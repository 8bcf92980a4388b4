"""Render `callvault bench dialer --output FILE.json` results as Markdown tables for the performance doc.

Usage: uv run python bench/dialer/render_markdown.py artifacts/bench-m.json [artifacts/bench-r.json ...]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from callvault.dialer.bench import load_optimum, load_reference
from callvault.dialer.cli import best_oracle

HERE = Path(__file__).resolve().parent
POLICIES = ("progressive", "vicidial", "callvault")


def fmt(cell: dict[str, float]) -> tuple[str, str]:
    return (
        f"{cell['occupancy']:.4f} ± {cell['occupancy_ci95']:.4f}",
        f"{100 * cell['abandon_rate']:.2f} ± {100 * cell['abandon_rate_ci95']:.2f}",
    )


def render(path: Path) -> None:
    report = json.loads(path.read_text(encoding="utf-8"))
    cells = report["cells"] if isinstance(report, dict) else report
    by_key: dict[tuple[str, int, float, float], dict[str, dict[str, float]]] = {}
    for c in cells:
        by_key.setdefault((c["family"], c["agents"], c["p_live"], c["aht_s"]), {})[c["policy"]] = c
    optimum = load_optimum(HERE / "markov_optimum.csv")
    reference = load_reference(HERE / "realistic_reference.csv")
    for family in sorted({k[0] for k in by_key}):
        head = "| N | p | AHT | " + " | ".join(f"{p} occ | {p} ab %" for p in POLICIES)
        if family == "M":
            head += " | optimum | gap (opt - ours) |"
        else:
            head += " | ref VICIdial-style | best oracle ≤ 3 % | ours - best |"
        print(f"\n**Family {family}** (`{path.name}`)\n")
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        gaps = []
        for (fam, n, p, aht), pol in sorted(by_key.items()):
            if fam != family:
                continue
            row = [str(n), f"{p:g}", f"{aht:g}"]
            for name in POLICIES:
                row += list(fmt(pol[name])) if name in pol else ["-", "-"]
            ours = pol["callvault"]["occupancy"]
            if family == "M":
                opt = optimum[(n, p, aht)]
                gaps.append(opt - ours)
                row += [f"{opt:.4f}", f"{opt - ours:+.4f}"]
            else:
                ref = reference.get((n, p, aht))
                if ref:
                    best = best_oracle(ref)
                    row += [f"{ref['vicidial_style_occupancy']:.4f}", f"{best:.4f}", f"{ours - best:+.4f}"]
                else:
                    row += ["-", "-", "-"]
            print("| " + " | ".join(row) + " |")
        if gaps:
            print(f"\nMedian gap {statistics.median(gaps):+.4f}, largest {max(gaps):+.4f}.")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        render(Path(arg))
