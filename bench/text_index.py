"""SQLite's trigram index: time to index and size, with positions (FTS5's default, migration
007) and without (042: detail=none, columnsize=0), on previews like the recorder stores.

    .venv/bin/python bench/text_index.py            # 20,000 previews of ~600 varied characters

Each variant indexes the same previews into a new file in transactions of 2,000 rows (the
recorder's INDEX_CHUNK) and runs one search for a word's trigrams, in turn, --rounds times (the
machine's speed drifts); it prints each run's CPU µs per row and the file size, then the
median per variant.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import string
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "positions (007)": "",
    "no positions (042)": ", detail='none', columnsize=0",
}


def previews(n: int) -> list[str]:
    rng = random.Random(1)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]
    asked = (" ".join(rng.choices(words, k=80))[:300] for _ in range(n))
    return [f"{a}\n→ {' '.join(rng.choices(words, k=80))[:300]}" for a in asked]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    texts = previews(args.n)
    word = texts[0].split()[0]
    query = " AND ".join(f'"{word[i : i + 3]}"' for i in range(len(word) - 2))
    runs: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, options) in enumerate(list(VARIANTS.items()) * args.rounds):
            path = Path(tmp) / f"{k}.db"
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA page_size=16384")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE VIRTUAL TABLE s USING fts5(preview, model, upstream_model, error_message, "
                f"tokenize='trigram'{options})"
            )
            cpu = time.process_time()
            for start in range(0, args.n, 2000):
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT INTO s (rowid, preview, model) VALUES (?, ?, 'claude-sonnet-4-5')",
                    enumerate(texts[start : start + 2000], start),
                )
                conn.execute("COMMIT")
            cpu = time.process_time() - cpu
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            (found,) = conn.execute("SELECT COUNT(*) FROM s WHERE s MATCH ?", (query,)).fetchone()
            conn.close()
            runs[name].append(cpu / args.n * 1e6)
            print(
                f"{name:20} {cpu / args.n * 1e6:6.1f} µs/row CPU  {path.stat().st_size / 1e6:5.1f} MB"
                f"  search {word!r}: {found} rows"
            )
    for name, times in runs.items():
        print(f"{name:20} median {statistics.median(times):6.1f} µs/row CPU")


if __name__ == "__main__":
    main()
