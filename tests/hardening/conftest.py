"""Hardening fixtures: the real app (monitor wired in) on loopback, in both modes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningProxy, StartProxy
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI

BACKEND_KEY = "sk-or-v1-hardening-backend-" + "b" * 40 + "-TAILB7"
Start = Callable[..., Awaitable[RunningProxy]]


@pytest.fixture
def start(start_proxy: StartProxy) -> Start:
    """The full app (proxy, config API, monitor), started like every other test's."""
    return start_proxy


@pytest.fixture
async def oai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture(params=["anthropic", "openrouter"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def mode_settings(mode: str, fake: FakeAnthropic, oai: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    """Settings for either mode; pass-through goes to `fake`, translation to `oai`."""
    if mode == "openrouter":
        return {
            "mode": "openrouter",
            "upstream_url": fake.url,
            "openrouter_base_url": oai.url,
            "openrouter_api_key": BACKEND_KEY,
            **extra,
        }
    return {"upstream_url": fake.url, **extra}


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` every 10 ms, at most `timeout` seconds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- the proxy as a real process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ProxyProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def rss_kb(self) -> int:
        """VmRSS of the proxy process, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


async def spawn_proxy(
    data: Path, upstream: str, *args: str, log_level: str = "INFO"
) -> ProxyProcess:
    """`python -m anthropic_proxy` on a free port, in a clean environment; waits for /health
    (at most 20 s)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "OPENROUTER"))}
    env["LOG_LEVEL"] = log_level
    data.mkdir(parents=True, exist_ok=True)
    log = data.parent / f"proxy-{port}.log"
    command = [sys.executable, "-m", "anthropic_proxy", "--port", str(port), "--upstream", upstream]
    command += ["--data-dir", str(data), *args]
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=data.parent
        )
    running = ProxyProcess(proc, f"http://127.0.0.1:{port}", log)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"proxy exited: {log.read_text()[-2000:]}")
            try:
                async with http.get(f"{running.url}/health") as resp:
                    if resp.status == 200:
                        return running
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    running.stop()
    raise RuntimeError(f"proxy did not start: {log.read_text()[-2000:]}")


@pytest.fixture
async def processes() -> AsyncIterator[list[ProxyProcess]]:
    """Proxy processes a test started; stopped at teardown."""
    started: list[ProxyProcess] = []
    yield started
    for running in started:
        running.stop()
