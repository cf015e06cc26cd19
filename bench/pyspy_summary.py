"""Summarise a py-spy raw (collapsed stacks) profile: share per thread, inclusive and self time.

.venv/bin/python bench/pyspy_summary.py PROFILE.txt [TOP]
"""

from __future__ import annotations

import collections
import re
import sys

LINE_NO = re.compile(r":\d+\)")


def summarise(path: str, top: int = 30) -> str:
    incl: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path) as fh:
        for line in fh:
            stack, _, n_text = line.rstrip().rpartition(" ")
            if not stack:
                continue
            n = int(n_text)
            total += n
            frames = stack.split(";")
            threads[frames[0].split(":")[-1].strip()[:40]] += n
            for frame in {LINE_NO.sub(")", f) for f in frames[1:]}:
                incl[frame] += n
            leaf[LINE_NO.sub(")", frames[-1])] += n
    if not total:
        return "no samples"
    out = [f"{total} samples"]
    out += [f"thread {100 * n / total:5.1f}%  {t}" for t, n in threads.most_common()]
    out.append("-- inclusive (frames from the project, aiohttp, sqlite, genai_prices)")
    keep = ("anthropic_proxy", "aiohttp", "sqlite", "genai_prices", "zlib", "json")
    out += [
        f"{100 * n / total:5.1f}%  {f[:140]}"
        for f, n in incl.most_common(400)
        if any(k in f for k in keep)
    ][:top]
    out.append("-- self")
    out += [f"{100 * n / total:5.1f}%  {f[:140]}" for f, n in leaf.most_common(top)]
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30))
