"""kill -9 under load: every exchange the client saw complete is in the store after a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import IO

import aiohttp

from tests.conftest import API_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic, message, text_block


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_proxy(data: Path, upstream: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with open(data / "proxy.log", "a") as log:  # the child keeps its own descriptor
        proc = _spawn(port, upstream, data, log)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{url}/health") as resp:
                    if resp.status == 200:
                        return proc, url
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError("proxy did not start")


def _spawn(port: int, upstream: str, data: Path, log: IO[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "anthropic_proxy",
            "--port",
            str(port),
            "--upstream",
            upstream,
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


async def client_loop(url: str, worker: int, done: list[str], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as http:
        n = 0
        while not stop.is_set():
            marker = f"w{worker}-r{n}"
            body = {
                "model": "claude-haiku-4-5",
                "max_tokens": 5,
                "stream": n % 2 == 0,
                "messages": [{"role": "user", "content": marker}],
            }
            try:
                async with http.post(
                    f"{url}/v1/messages", json=body, headers={"x-api-key": API_KEY}
                ) as resp:
                    await resp.read()
                    if resp.status == 200:
                        done.append(marker)
            except aiohttp.ClientError:
                return
            n += 1


async def test_kill_9_under_load_loses_no_completed_exchange(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        fake.responder = lambda req: message(text_block("ok"))
        proc, url = await start_proxy(tmp_path, fake.url)
        done: list[str] = []
        stop = asyncio.Event()
        workers = [asyncio.create_task(client_loop(url, w, done, stop)) for w in range(8)]
        while len(done) < 300:
            await asyncio.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: requests are in flight right now
        proc.wait()
        stop.set()
        await asyncio.gather(*workers)
        proc, url = await start_proxy(tmp_path, fake.url)
        try:
            db = sqlite3.connect(tmp_path / "exchanges.db")
            rows = db.execute("SELECT state, preview FROM exchanges").fetchall()
        finally:
            proc.terminate()
            proc.wait()
    stored = {preview.split("\n")[0]: state for state, preview in rows if state != "interrupted"}
    interrupted = [preview for state, preview in rows if state == "interrupted"]
    missing = [m for m in done if stored.get(m) != "success"]
    log = (tmp_path / "proxy.log").read_text()
    assert not missing, (
        f"{len(missing)} of {len(done)} lost: {missing[:5]} {[r for r in rows if r[1].startswith(missing[0])]}\n{log[-3000:]}"
    )
    assert "pending" not in stored.values()
    assert all(p.split("\n")[0] not in done for p in interrupted)
