"""Shared fixtures: the real proxy on loopback, in-process, against fake upstreams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from anthropic_proxy.app import create_app
from anthropic_proxy.framework import runner as make_runner
from anthropic_proxy.settings import Settings, load
from anthropic_proxy.state import STATE, AppState
from tests.fakes.anthropic_upstream import FakeAnthropic

API_KEY = "sk-ant-api03-TESTKEY-" + "x" * 60 + "-tailZ9"


@dataclass
class RunningProxy:
    url: str
    runner: web.AppRunner
    settings: Settings

    @property
    def state(self) -> AppState:
        return self.runner.app[STATE]

    async def rows(self, n: int = 1, timeout: float = 10.0, **where: Any) -> list[dict[str, Any]]:
        """Wait until n finished exchanges matching `where` are stored; return them, oldest first."""
        clause = " AND ".join(f"{k} = ?" for k in where) or "1 = 1"
        sql = f"SELECT * FROM exchange_details WHERE state != 'pending' AND {clause} ORDER BY started_at"
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await asyncio.to_thread(self.state.store.fetch, sql, list(where.values()))
            if len(found) >= n or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        await self.runner.cleanup()


StartProxy = Callable[..., Awaitable[RunningProxy]]


def journal_bytes(data_dir: Path) -> int:
    """What the crash journal holds: 0 once the recorder has committed everything."""
    return sum(p.stat().st_size for p in data_dir.glob("journal-*.bin"))


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


@pytest.fixture
async def start_proxy(tmp_path: Path) -> AsyncIterator[StartProxy]:
    started: list[RunningProxy] = []

    async def start(**overrides: Any) -> RunningProxy:
        cli = {"host": "127.0.0.1", "port": 0, "data_dir": str(tmp_path / "data"), **overrides}
        settings = load(cli, environ={}, env_file=tmp_path / "no.env")
        runner = make_runner(create_app(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        proxy = RunningProxy(f"http://127.0.0.1:{port}", runner, settings)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        await proxy.stop()


@pytest.fixture
async def proxy(start_proxy: StartProxy, fake: FakeAnthropic) -> RunningProxy:
    return await start_proxy(upstream_url=fake.url)
