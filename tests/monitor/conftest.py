"""Fixtures for the monitor tests: the real app with the monitor wired in, and helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from anthropic_proxy.app import create_app
from anthropic_proxy.monitor import api
from anthropic_proxy.settings import load
from tests.conftest import RunningProxy
from tests.fakes.anthropic_upstream import FakeAnthropic

StartMonitor = Callable[..., Awaitable[RunningProxy]]


def build_app(settings: Any) -> web.Application:
    """create_app, plus the monitor's setup if the app does not wire it in yet."""
    app = create_app(settings)
    if not any(getattr(r, "canonical", None) == "/monitor" for r in app.router.resources()):
        api.setup(app, settings)
    return app


@pytest.fixture
async def start_monitor(tmp_path: Path) -> AsyncIterator[StartMonitor]:
    started: list[RunningProxy] = []

    async def start(**overrides: Any) -> RunningProxy:
        cli = {"host": "127.0.0.1", "port": 0, "data_dir": str(tmp_path / "data"), **overrides}
        settings = load(cli, environ={}, env_file=tmp_path / "no.env")
        runner = web.AppRunner(build_app(settings), handler_cancellation=True, access_log=None)
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
async def mon(start_monitor: StartMonitor, fake: FakeAnthropic) -> RunningProxy:
    return await start_monitor(upstream_url=fake.url)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
