"""The recorder's instructions per exchange, which do not drift with the VM's speed: callgrind
counts the instructions of draining a journal of 1,000 and of 3,000 exchanges (`consume` and the
idle work after it), and the difference over 2,000 is the marginal cost of one exchange, with
start-up and imports subtracted. Needs valgrind (`apt-get install valgrind`); ~2 min a tree.

    .venv/bin/python bench/instructions.py --streams 0.1 .           # this checkout
    .venv/bin/python bench/instructions.py --streams 1 ../old ../new  # others (git worktree)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLLECTED = re.compile(r"Collected : (\d+)")


def make(directory: Path, n: int, streams: float, body: str) -> None:
    sys.path.insert(0, str(HERE))
    import recorder

    from anthropic_proxy.record.journal import Journal

    directory.mkdir(parents=True)
    journal = Journal(directory)
    for capture in recorder.captures(n, streams, size=body):
        journal.append(capture)
    journal.close()


def drain(directory: Path) -> None:
    sys.path.insert(0, str(HERE))
    import recorder

    from anthropic_proxy.record import process
    from anthropic_proxy.record.journal import Reader
    from anthropic_proxy.record.writer import Retention, Writer, consume
    from anthropic_proxy.storage import open_store

    store = open_store("", directory)
    store.open()
    writer = Writer(store, scrub=True, retention=Retention())
    if hasattr(process, "tune_gc"):  # as the recorder process does (older commits: not)
        process.tune_gc()
    consume(Reader(directory, 0), writer, lambda report: None, lambda: True)
    recorder.idle_work(store)
    store.close()


def count(tree: str, streams: float, body: str) -> int:
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve() / "src"))
    me = [sys.executable, __file__]
    collected = []
    with tempfile.TemporaryDirectory(prefix="ap-instr-") as tmp:
        for n in (1000, 3000):
            data = Path(tmp) / str(n)
            subprocess.run(
                [*me, "--make", str(data), str(n), str(streams), body], env=env, check=True
            )
            done = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.{n}",
                 *me, "--drain", str(data)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            found = COLLECTED.search(done.stderr)
            if found is None:
                raise SystemExit(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
            collected.append(int(found.group(1)))
    return (collected[1] - collected[0]) // 2000


def main() -> None:
    if sys.argv[1:2] == ["--make"]:
        make(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
        return
    if sys.argv[1:2] == ["--drain"]:
        drain(Path(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=float, default=0.1)
    ap.add_argument("--body", choices=("small", "large"), default="small")
    ap.add_argument("trees", nargs="+", help="checkouts whose src/ is put first on PYTHONPATH")
    args = ap.parse_args()
    for tree in args.trees:
        n = count(tree, args.streams, args.body)
        print(f"{tree}: {n:,} instructions per exchange (streams {args.streams}, {args.body})")


if __name__ == "__main__":
    main()
