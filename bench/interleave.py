"""Compare source trees on `bench/recorder.py`, run interleaved: each round runs every tree once,
in turn, so a VM whose speed drifts by ±25% from hour to hour moves all of them alike.

    .venv/bin/python bench/interleave.py --rounds 5 -- -n 8000 --streams 0.1 ../old ../new
    git worktree add ../old 23e1613   # a tree to compare against

Arguments after `--` go to bench/recorder.py (its options first, then the trees, each a checkout
whose `src/` is put first on PYTHONPATH). Prints each run's CPU µs/exchange, then per tree the
median (min-max), and each tree's ratio to the first, round by round.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CPU = re.compile(r"([\d,]+) µs/exchange CPU")


def run(tree: str, options: list[str]) -> int:
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve() / "src"))
    out = subprocess.run(
        [sys.executable, str(HERE / "recorder.py"), *options],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = CPU.search(out)
    if found is None:
        raise SystemExit(f"no CPU figure from {tree}:\n{out}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="-- recorder options, then trees")
    args = ap.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    trees = [a for a in rest if (Path(a) / "src").is_dir()]
    options = [a for a in rest if a not in trees]
    if len(trees) < 1:
        raise SystemExit("name at least one tree (a checkout with a src/ directory)")
    results: dict[str, list[int]] = {t: [] for t in trees}
    for r in range(args.rounds):
        for tree in trees:
            results[tree].append(run(tree, options))
            print(f"round {r}  {tree}  {results[tree][-1]} µs", flush=True)
    first = results[trees[0]]
    for tree, values in results.items():
        ratios = [a / b for a, b in zip(first, values, strict=True)]
        print(
            f"{tree}: median {statistics.median(values):.0f} ({min(values)}-{max(values)}) µs;"
            f" {trees[0]} / this, per round: {', '.join(f'{x:.2f}' for x in ratios)}"
        )


if __name__ == "__main__":
    main()
