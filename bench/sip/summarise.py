"""Print the ADR tables (Markdown) from bench/sip/results/*.json: medians over repeated runs."""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def main() -> None:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results")
    groups: dict[tuple[str, int, float, int, int], list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(results.glob("*.json")):
        if path.stat().st_size == 0 or "refusal" in path.name:
            continue
        run = json.loads(path.read_text())
        # Runs made before poll_ms was recorded name a non-default poll in the file name.
        named = re.search(r"poll(\d+)", path.name)
        poll = run.get("poll_ms") or (int(named.group(1)) if named else 100)
        groups[(run["stack"], run["calls_offered"], run["rate_cps"], poll, run.get("jb_ms", -1))].append(run)
    print(
        "| stack | calls | poll (ms) | jitter buffer | processes | runs | calls OK | recordings | "
        "CPU idle (% core) | CPU loaded (% core) | "
        "CPU per call (% core) | PSS total (MB) | PSS per process (MB) | SIPp CPU (% core) | "
        "SNR median (dB) | blocks < 20 dB | silent frames max |"
    )
    print("|" + "---|" * 17)
    for (stack, calls, rate, poll, jb), runs in sorted(groups.items()):

        def med(get: Any, runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(get(r) for r in runs))

        processes = runs[0]["processes"]
        print(
            f"| {stack} | {calls} @ {rate:g}/s | {poll if stack == 'pjsua2' else '-'} | "
            f"{('adaptive' if jb < 0 else f'fixed {jb} ms') if stack == 'pjsua2' else '-'} | "
            f"{processes} | {len(runs)} | "
            f"{'/'.join(str(r['calls_ok']) for r in runs)} | "
            f"{'/'.join(str(r['recordings']) for r in runs)} | "
            f"{med(lambda r: r['idle']['cpu_pct_of_core']):.1f} | "
            f"{med(lambda r: r['loaded']['cpu_pct_of_core']):.1f} | "
            f"{med(lambda r: r['cpu_pct_per_call']):.2f} | {med(lambda r: r['loaded']['pss_mb']):.0f} | "
            f"{med(lambda r: r['loaded']['pss_mb']) / processes:.1f} | "
            f"{med(lambda r: r['loaded']['sipp_cpu_pct_of_core']):.1f} | "
            f"{med(lambda r: r['snr_db_median'] or 0):.1f} | "
            f"{med(lambda r: r['blocks_below_20db_pct']):.2f} % | "
            f"{max(r['silent_fraction_max'] or 0 for r in runs):.3f} |"
        )


if __name__ == "__main__":
    main()
