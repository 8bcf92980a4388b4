"""List-import benchmark: `python bench/import_bench.py --rows 1000000 [--repeat 3] [--json]`.

Same as `callvault bench import`; see `callvault.contacts.bench` for what is measured and how.
"""

from __future__ import annotations

import argparse
import json

from callvault.contacts.bench import run_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run_benchmark(args.rows, repeat=args.repeat)
    print(json.dumps(figures, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
