"""How soon a completed exchange is listed by the API, at a normal (Claude Code) rate.

Starts the proxy (`python -m anthropic_proxy`, recorder process, fresh data dir) against the
fake upstream in bench/upstream.py, sends N requests at R per second, each with a unique marker,
and after each response polls `GET /api/monitor/requests?q=<marker>` every 5 ms until the
exchange is listed. Prints p50/p95/p99/max of (listed - response complete) and /health's drops.

    .venv/bin/python bench/visibility.py                  # 300 requests at 10/s
    .venv/bin/python bench/visibility.py -n 1000 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_up(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with http.get(url) as r:
                if r.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


async def run(n: int, rate: float) -> None:
    up_port, px_port = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="ap-visibility-")
    upstream = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), "--port", str(up_port)])
    proxy = subprocess.Popen(
        [sys.executable, "-m", "anthropic_proxy", "--host", "127.0.0.1", "--port", str(px_port),
         "--upstream", f"http://127.0.0.1:{up_port}", "--data-dir", data],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{px_port}"
    delays: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            await wait_up(http, base + "/health")
            for i in range(n):
                marker = f"visible{i:06d}x{time.time_ns() % 10**6:06d}"
                body = {"model": "claude-haiku-4-5", "max_tokens": 16, "stream": i % 2 == 0,
                        "messages": [{"role": "user", "content": f"{marker} hello"}]}  # fmt: skip
                started = time.perf_counter()
                async with http.post(base + "/v1/messages", json=body,
                                     headers={"x-api-key": "sk-ant-bench-000000000000"}) as r:  # fmt: skip
                    await r.read()
                done = time.perf_counter()
                while True:
                    async with http.get(base + "/api/monitor/requests", params={"q": marker}) as r:
                        listed = (await r.json())["data"]
                    if listed and listed[0].get("state") != "pending":
                        break
                    await asyncio.sleep(0.005)
                delays.append((time.perf_counter() - done) * 1000)
                await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - started)))
            async with http.get(base + "/health") as r:
                health = json.loads(await r.read())["recorder"]
    finally:
        proxy.terminate()
        upstream.terminate()
        proxy.wait(10)
        upstream.wait(10)
    delays.sort()

    def pct(p: float) -> float:
        return delays[min(len(delays) - 1, int(p / 100 * len(delays)))]

    print(f"{n} exchanges at {rate}/s: listed after p50 {pct(50):.0f} ms, p95 {pct(95):.0f} ms, "
          f"p99 {pct(99):.0f} ms, max {delays[-1]:.0f} ms; dropped {health['dropped']}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--rate", type=float, default=10.0)
    args = ap.parse_args()
    asyncio.run(run(args.n, args.rate))


if __name__ == "__main__":
    main()
